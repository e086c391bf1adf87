import AFSClient
import AFSCore
import Foundation
import Testing

@testable import AFSMount

/// Large files are fetched where they are read (``PartialContent``), not whole at open: what a
/// first `git status` on a fresh mount needs of a pack file is a few blocks.
@Suite struct PartialContentTests {
    static let block = Int(PartialContent.blockSize)

    /// Deterministic bytes that differ in every block (so a block landing at the wrong offset shows).
    static func content(_ size: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<size).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    static func downloaded(_ f: SessionFilesystemTests.Fixture) -> UInt64 {
        f.fs.metrics.snapshot(session: f.session, cache: f.fs.cache, openFiles: 0).bytes.downloaded
    }

    @Test func aLargeFileIsFetchedOnlyWhereItIsReadAndCachedOnceWhole() throws {
        let f = try SessionFilesystemTests.Fixture()
        let size = 6 * Self.block + 12_345
        let bytes = Self.content(size, seed: 1)
        try f.store.writeFile(f.session, path: "/big.pack", data: bytes)

        let h = try f.fs.open("/big.pack", flags: O_RDONLY)
        #expect(Self.downloaded(f) == 0, "the open fetched nothing")
        // One read in the middle: its block only.
        let offset = 3 * Self.block + 100
        #expect(try f.fs.read(h, offset: UInt64(offset), count: 4096) == Array(bytes[offset..<offset + 4096]))
        #expect(Self.downloaded(f) == UInt64(Self.block))
        // A read across two blocks fetches the one missing (block 2; nothing before it was read,
        // so it is not a reader going forward).
        let across = 3 * Self.block - 10
        #expect(try f.fs.read(h, offset: UInt64(across), count: 20) == Array(bytes[across..<across + 20]))
        #expect(Self.downloaded(f) == UInt64(2 * Self.block))
        // A second handle (git opens the pack again per command) shares what is fetched.
        let h2 = try f.fs.open("/big.pack", flags: O_RDONLY)
        #expect(try f.fs.read(h2, offset: UInt64(offset), count: 10) == Array(bytes[offset..<offset + 10]))
        #expect(Self.downloaded(f) == UInt64(2 * Self.block))
        #expect(!f.fs.cache.contains(try f.store.stat(f.session, path: "/big.pack").contentID ?? ""))
        // Reading the rest completes it: hashed, then a cache entry like any other.
        var all: [UInt8] = []
        while all.count < size {
            let piece = try f.fs.read(h, offset: UInt64(all.count), count: 128 << 10)
            #expect(!piece.isEmpty)
            if piece.isEmpty { break }
            all += piece
        }
        #expect(all == bytes)
        #expect(Self.downloaded(f) == UInt64(size), "every byte fetched once")
        let id = try #require(try f.store.stat(f.session, path: "/big.pack").contentID)
        #expect(f.fs.cache.contains(id))
        #expect(f.fs.partials.withLock { $0.isEmpty })
        try f.fs.release(h)
        try f.fs.release(h2)
        // The next open is a cache hit: nothing more is fetched.
        let h3 = try f.fs.open("/big.pack", flags: O_RDONLY)
        #expect(try f.fs.read(h3, offset: UInt64(size - 5), count: 100) == Array(bytes[(size - 5)...]))
        #expect(Self.downloaded(f) == UInt64(size))
        try f.fs.release(h3)
    }

    @Test func aReaderGoingForwardFetchesSeveralBlocksAtOnce() throws {
        let f = try SessionFilesystemTests.Fixture()
        let bytes = Self.content(20 * Self.block, seed: 2)
        try f.store.writeFile(f.session, path: "/seq.bin", data: bytes)
        let h = try f.fs.open("/seq.bin", flags: O_RDONLY)
        _ = try f.fs.read(h, offset: 0, count: 4096)
        #expect(Self.downloaded(f) == UInt64(Self.block))
        // The read right after the fetched bytes takes the next 8 blocks in one call.
        #expect(try f.fs.read(h, offset: UInt64(Self.block), count: 4096) == Array(bytes[Self.block..<Self.block + 4096]))
        #expect(Self.downloaded(f) == UInt64((1 + Int(PartialContent.sequentialBlocks)) * Self.block))
        try f.fs.release(h)
    }

    @Test func aFileReplacedAtTheServiceWhileReadIsStaleNotMixed() throws {
        // No metadata lifetime: every open asks the service (with the default second, an open
        // right after another may take the first's stat, whose content a partial already holds,
        // and pass or fail with the machine's speed).
        let f = try SessionFilesystemTests.Fixture(ttl: .zero)
        let old = Self.content(4 * Self.block, seed: 3)
        try f.store.writeFile(f.session, path: "/f.bin", data: old)
        let h = try f.fs.open("/f.bin", flags: O_RDONLY)
        #expect(try f.fs.read(h, offset: 0, count: 100) == Array(old[0..<100]))
        // Another client replaces the file: the handle must not be completed from the new bytes.
        try f.store.writeFile(f.session, path: "/f.bin", data: Self.content(4 * Self.block, seed: 4))
        #expect(throws: Errno(ESTALE)) { try f.fs.read(h, offset: UInt64(2 * Self.block), count: 100) }
        // What was fetched of the version it opened stays readable.
        #expect(try f.fs.read(h, offset: 10, count: 10) == Array(old[10..<20]))
        try f.fs.release(h)

        // Removed, or replaced by a shorter file: stale too, not a short read or EIO.
        try f.store.writeFile(f.session, path: "/g.bin", data: old)
        let g = try f.fs.open("/g.bin", flags: O_RDONLY)
        try f.store.writeFile(f.session, path: "/g.bin", data: Array(old[0..<10]))
        #expect(throws: Errno(ESTALE)) { try f.fs.read(g, offset: UInt64(3 * Self.block), count: 100) }
        try f.fs.release(g)
        let r = try f.fs.open("/f.bin", flags: O_RDONLY)
        try f.store.remove(f.session, path: "/f.bin")
        #expect(throws: Errno(ESTALE)) { try f.fs.read(r, offset: 0, count: 100) }
        try f.fs.release(r)
    }

    @Test func openingForWriteFetchesTheRestFirst() throws {
        let f = try SessionFilesystemTests.Fixture()
        var bytes = Self.content(3 * Self.block + 7, seed: 5)
        try f.store.writeFile(f.session, path: "/w.bin", data: bytes)
        let reader = try f.fs.open("/w.bin", flags: O_RDONLY)
        _ = try f.fs.read(reader, offset: 0, count: 10)
        let writer = try f.fs.open("/w.bin", flags: O_RDWR)
        #expect(try f.fs.write(writer, offset: UInt64(2 * Self.block), bytes: Array("edited".utf8)) == 6)
        try f.fs.release(writer)
        try f.fs.release(reader)
        #expect(f.fs.publishAll().isEmpty)
        bytes.replaceSubrange(2 * Self.block..<2 * Self.block + 6, with: Array("edited".utf8))
        #expect(try f.store.readFile(f.session, path: "/w.bin") == bytes)
    }
}

import AFSSupport
import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore
@testable import AFSTar

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers


private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
}

private struct Item {
    var entry: TarEntry
    var content: [UInt8] = []
}

private func fileItem(_ path: String, _ content: [UInt8], mode: UInt32 = 0o644, mtime: Int64 = 1_700_000_000) -> Item {
    Item(entry: TarEntry(path: path, kind: .file, mode: mode, mtime: mtime, size: Int64(content.count), uid: 0, gid: 0), content: content)
}

private func dirItem(_ path: String, mode: UInt32 = 0o755, mtime: Int64 = 1_700_000_000) -> Item {
    Item(entry: TarEntry(path: path, kind: .directory, mode: mode, mtime: mtime, uid: 0, gid: 0))
}

private func linkItem(_ path: String, to target: String, kind: TarEntryKind = .symlink) -> Item {
    Item(entry: TarEntry(path: path, kind: kind, mode: 0o777, mtime: 1_700_000_000, linkTarget: target, uid: 0, gid: 0))
}

/// Writes `items` with `writer`, feeding content in uneven pieces.
private func write<S: TarByteSink>(_ items: [Item], to writer: inout TarWriter<S>) throws {
    for item in items {
        try writer.beginEntry(item.entry)
        var start = 0
        var piece = 1
        while start < item.content.count {
            let end = min(item.content.count, start + piece)
            try item.content[start ..< end].withUnsafeBytes { try writer.writeContent($0) }
            start = end
            piece = piece * 3 + 7  // 1, 10, 37, 118, ... exercises small and large writes
        }
        try writer.endEntry()
    }
    try writer.finish()
}

private func archiveBytes(_ items: [Item]) throws -> [UInt8] {
    var writer = TarWriter(sink: ArrayByteSink())
    try write(items, to: &writer)
    return writer.sink.bytes
}

private func readAll<S: TarByteSource>(
    _ reader: inout TarReader<S>,
    pieceSize: Int = 1000
) throws -> [(entry: TarEntry, content: [UInt8])] {
    var result: [(entry: TarEntry, content: [UInt8])] = []
    while let entry = try reader.next() {
        var content: [UInt8] = []
        while true {
            let piece = try reader.readContent(maxLength: pieceSize)
            if piece.isEmpty { break }
            #expect(piece.count <= pieceSize)
            content += piece
        }
        result.append((entry, content))
    }
    return result
}

private func readAll(_ bytes: [UInt8], pieceSize: Int = 1000) throws -> [(entry: TarEntry, content: [UInt8])] {
    var reader = TarReader(source: ArrayByteSource(bytes))
    return try readAll(&reader, pieceSize: pieceSize)
}

/// Hands out the bytes in small, irregular pieces, like a pipe might.
private struct ChoppySource: TarByteSource {
    var bytes: [UInt8]
    var position = 0
    var generator = SplitMix64(seed: 42)

    mutating func read(maxLength: Int) throws -> [UInt8] {
        let left = bytes.count - position
        if left == 0 || maxLength == 0 { return [] }
        let n = min(left, maxLength, Int.random(in: 1 ... 777, using: &generator))
        defer { position += n }
        return Array(bytes[position ..< position + n])
    }
}

/// Rewrites a header block in place and recomputes its checksum.
private func patchHeader(
    _ archive: inout [UInt8],
    at offset: Int,
    signedChecksum: Bool = false,
    _ body: (inout [UInt8]) -> Void
) {
    var header = Array(archive[offset ..< offset + 512])
    body(&header)
    let sums = header.withUnsafeBytes { TarHeaderLayout.checksums(of: $0) }
    let sum = signedChecksum ? sums.signed : sums.unsigned
    let digits = Array(String(sum, radix: 8).utf8)
    var field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits
    field += [0, 0x20]
    header.replaceSubrange(148 ..< 156, with: field)
    archive.replaceSubrange(offset ..< offset + 512, with: header)
}

private func setField(_ header: inout [UInt8], _ offset: Int, _ length: Int, _ bytes: [UInt8]) {
    precondition(bytes.count <= length)
    header.replaceSubrange(offset ..< offset + length, with: bytes + [UInt8](repeating: 0, count: length - bytes.count))
}

private final class TempDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("afs-tar-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ component: String) -> URL {
        url.appendingPathComponent(component)
    }
}

private struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs /bin/tar with stdout/stderr captured through files.
private func runTar(_ arguments: [String], logs: URL) throws -> ToolRun {
    try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    let id = UUID().uuidString
    let outURL = logs.appendingPathComponent("\(id).out")
    let errURL = logs.appendingPathComponent("\(id).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let outHandle = try FileHandle(forWritingTo: outURL)
    let errHandle = try FileHandle(forWritingTo: errURL)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/tar")
    process.arguments = arguments
    process.standardOutput = outHandle
    process.standardError = errHandle
    try process.run()
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()

    return ToolRun(
        status: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
    )
}

private func writeFile(_ url: URL, _ bytes: [UInt8], mode: Int, mtime: Int64) throws {
    try Data(bytes).write(to: url)
    try FileManager.default.setAttributes(
        [.posixPermissions: mode, .modificationDate: Date(timeIntervalSince1970: TimeInterval(mtime))],
        ofItemAtPath: url.path
    )
}

private func makeDirectory(_ url: URL, mode: Int) throws {
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
}

private func readFileBytes(_ url: URL) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url))
}

private func readArchiveFile(_ url: URL, pieceSize: Int = 64 * 1024) throws -> [(entry: TarEntry, content: [UInt8])] {
    let fd = open(url.path, O_RDONLY)
    #expect(fd >= 0)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var reader = TarReader(source: FileDescriptorByteSource(fd: fd))
    return try readAll(&reader, pieceSize: pieceSize)
}

private func byPath(_ entries: [(entry: TarEntry, content: [UInt8])]) -> [String: (entry: TarEntry, content: [UInt8])] {
    var result: [String: (entry: TarEntry, content: [UInt8])] = [:]
    for item in entries {
        result[item.entry.path] = item
    }
    return result
}

/// A nested path longer than 255 bytes (so neither name nor prefix/name fits).
private let longNestedDirectory = (1 ... 4).map { String(repeating: Character(UnicodeScalar(UInt8(96 + $0))), count: 70) }
    .joined(separator: "/")
private let longNestedFile = longNestedDirectory + "/" + String(repeating: "f", count: 90) + ".dat"
private let longLinkTarget = "../" + String(repeating: "target-segment/", count: 12) + "end"

// MARK: - Tests

@Suite(.offCooperativePool) struct TarTests {
    /// The standard mixed set of entries used by several tests.
    private func sampleItems() -> [Item] {
        var items: [Item] = [
            dirItem("top", mode: 0o750),
            fileItem("top/empty", []),
            fileItem("top/one", [0x41]),
            fileItem("top/b511", randomBytes(511, seed: 1)),
            fileItem("top/b512", randomBytes(512, seed: 2)),
            fileItem("top/b513", randomBytes(513, seed: 3), mode: 0o600),
            fileItem("top/random100k", randomBytes(100 * 1024, seed: 4), mode: 0o755),
            linkItem("top/link", to: "b511"),
            linkItem("top/hard", to: "top/one", kind: .hardlink),
            linkItem("top/longlink", to: longLinkTarget),
            fileItem("top/ünïcødé-文件.txt", Array("héllo wörld\n".utf8)),
        ]
        // Intermediate directories of the long path, then the file itself.
        var prefix = "top"
        for component in longNestedDirectory.split(separator: "/") {
            prefix += "/" + component
            items.append(dirItem(prefix))
        }
        items.append(fileItem("top/" + longNestedFile, randomBytes(3000, seed: 5)))
        return items
    }

    @Test func roundTripInMemory() throws {
        let items = sampleItems()
        let archive = try archiveBytes(items)
        #expect(archive.count % 512 == 0)
        #expect(archive.suffix(1024).allSatisfy { $0 == 0 })

        for pieceSize in [1000, 1 << 20] {
            let read = try readAll(archive, pieceSize: pieceSize)
            try #require(read.count == items.count)
            for (got, want) in zip(read, items) {
                #expect(got.entry == want.entry)
                #expect(got.content == want.content, "content of \(want.entry.path)")
            }
        }
    }

    @Test func roundTripThroughChoppySource() throws {
        let items = sampleItems()
        let archive = try archiveBytes(items)
        var reader = TarReader(source: ChoppySource(bytes: archive))
        let read = try readAll(&reader, pieceSize: 300)
        try #require(read.count == items.count)
        for (got, want) in zip(read, items) {
            #expect(got.entry == want.entry)
            #expect(got.content == want.content)
        }
    }

    @Test func nextSkipsUnreadAndPartiallyReadContent() throws {
        let items = sampleItems()
        let archive = try archiveBytes(items)
        var reader = TarReader(source: ArrayByteSource(archive))
        var seen: [TarEntry] = []
        while let entry = try reader.next() {
            if entry.path == "top/random100k" {
                let piece = try reader.readContent(maxLength: 10)
                #expect(piece == Array(items[6].content.prefix(10)))
            }
            seen.append(entry)
        }
        #expect(seen == items.map(\.entry))
        #expect(try reader.next() == nil)
        #expect(try reader.readContent(maxLength: 100) == [])
    }

    @Test func writerEmitsUstarHeaders() throws {
        let archive = try archiveBytes([fileItem("hello.txt", Array("hi".utf8)), dirItem("dir")])
        // One header + one data block, one header, two end blocks.
        #expect(archive.count == 512 * 5)
        #expect(Array(archive[257 ..< 265]) == Array("ustar\u{0}00".utf8))
        #expect(Array(archive[108 ..< 116]) == Array("0000000\u{0}".utf8))
        #expect(archive[265 ..< 329].allSatisfy { $0 == 0 })  // uname, gname
        #expect(archive[156] == UInt8(ascii: "0"))
        #expect(archive[1024 + 156] == UInt8(ascii: "5"))
        #expect(Array(archive[1024 ..< 1028]) == Array("dir/".utf8))
        let sums = archive[0 ..< 512].withUnsafeBytes { TarHeaderLayout.checksums(of: $0) }
        let stored = String(decoding: archive[148 ..< 154], as: UTF8.self)
        #expect(Int64(stored, radix: 8) == sums.unsigned)
    }

    @Test func writerUsesUstarPrefixBeforePax() throws {
        // 150 bytes, splittable: stays a single ustar header.
        let path = String(repeating: "p", count: 80) + "/" + String(repeating: "n", count: 69)
        let archive = try archiveBytes([fileItem(path, [1, 2, 3])])
        #expect(archive.count == 512 * 4)
        #expect(archive[156] == UInt8(ascii: "0"))
        #expect(try readAll(archive).first?.entry.path == path)

        // Single 150-byte component: needs a pax header.
        let flat = String(repeating: "q", count: 150)
        let paxArchive = try archiveBytes([fileItem(flat, [1, 2, 3])])
        #expect(paxArchive[156] == UInt8(ascii: "x"))
        #expect(try readAll(paxArchive).first?.entry.path == flat)
    }

    @Test func extremeTimesAndLargeSizesUsePax() throws {
        let items = [
            fileItem("old", [1], mtime: -1000),
            fileItem("future", [2], mtime: 1 << 40),
        ]
        let read = try readAll(try archiveBytes(items))
        #expect(read.map(\.entry) == items.map(\.entry))

        // A 9 GiB entry: write the header and 64 KiB of content, then read
        // back what reached the sink (a truncated archive).
        let hugeSize: Int64 = 9 << 30
        var writer = TarWriter(sink: ArrayByteSink())
        try writer.beginEntry(TarEntry(path: "huge", kind: .file, mode: 0o644, mtime: 0, size: hugeSize))
        let chunk = randomBytes(64 * 1024, seed: 9)
        try writer.writeContent(chunk)
        let bytes = writer.sink.bytes
        #expect(bytes[156] == UInt8(ascii: "x"))

        var reader = TarReader(source: ArrayByteSource(bytes))
        let entry = try #require(try reader.next())
        #expect(entry.size == hugeSize)
        #expect(entry.path == "huge")
        var got: [UInt8] = []
        #expect(throws: TarError.self) {
            while true {
                let piece = try reader.readContent(maxLength: 1 << 20)
                if piece.isEmpty { break }
                got += piece
            }
        }
        #expect(got == chunk)
    }

    @Test func writerValidatesUsage() throws {
        var writer = TarWriter(sink: ArrayByteSink())
        try writer.beginEntry(TarEntry(path: "f", kind: .file, mode: 0o644, mtime: 0, size: 4))
        try writer.writeContent([1, 2, 3])
        #expect(throws: TarError.self) { try writer.writeContent([4, 5]) }  // would exceed size
        #expect(throws: TarError.self) { try writer.endEntry() }  // 3 of 4 bytes
        try writer.writeContent([4])
        try writer.endEntry()
        #expect(throws: TarError.self) { try writer.endEntry() }
        #expect(throws: TarError.self) {
            try writer.beginEntry(TarEntry(path: "dev", kind: .other, mode: 0o644, mtime: 0))
        }
        #expect(throws: TarError.self) {
            try writer.beginEntry(TarEntry(path: "l", kind: .symlink, mode: 0o777, mtime: 0))
        }
        try writer.finish()
        #expect(throws: TarError.self) {
            try writer.beginEntry(TarEntry(path: "late", kind: .directory, mode: 0o755, mtime: 0))
        }
        let read = try readAll(writer.sink.bytes)
        #expect(read.count == 1)
        #expect(read.first?.content == [1, 2, 3, 4])
    }

    @Test func readsBase256GnuMagicAndSignedChecksum() throws {
        var archive = try archiveBytes([fileItem("abc", [9, 8, 7, 6, 5])])
        patchHeader(&archive, at: 0, signedChecksum: true) { header in
            // GNU magic; the prefix area holds GNU atime/ctime and must be ignored.
            setField(&header, 257, 8, Array("ustar  \u{0}".utf8))
            setField(&header, 345, 12, Array("12345670123".utf8))
            // Base-256 size (5) and mtime (-1).
            setField(&header, 124, 12, [0x80] + [UInt8](repeating: 0, count: 10) + [5])
            setField(&header, 136, 12, [UInt8](repeating: 0xFF, count: 12))
            // A non-UTF-8 byte >= 0x80 makes signed and unsigned sums differ.
            setField(&header, 0, 100, [UInt8(ascii: "a"), 0xE9])
        }
        let read = try readAll(archive)
        try #require(read.count == 1)
        #expect(read[0].entry.path == "a\u{E9}")
        #expect(read[0].entry.size == 5)
        #expect(read[0].entry.mtime == -1)
        #expect(read[0].content == [9, 8, 7, 6, 5])
    }

    @Test func readsV7Headers() throws {
        var archive = try archiveBytes([
            fileItem("old/file", Array("v7".utf8), mode: 0o640),
            fileItem("olddir/", []),  // becomes a v7-style directory below
        ])
        patchHeader(&archive, at: 0) { header in
            setField(&header, 257, 8, [])  // no magic, no version
            header[156] = 0  // old regular-file typeflag
            setField(&header, 100, 8, Array("  640 \u{0}".utf8))  // space-padded octal
        }
        patchHeader(&archive, at: 1024) { header in
            setField(&header, 257, 8, [])
            header[156] = 0
        }
        let read = try readAll(archive)
        try #require(read.count == 2)
        #expect(read[0].entry == TarEntry(path: "old/file", kind: .file, mode: 0o640, mtime: 1_700_000_000, size: 2, uid: 0, gid: 0))
        #expect(read[0].content == Array("v7".utf8))
        #expect(read[1].entry.kind == .directory)
        #expect(read[1].entry.path == "olddir")
    }

    @Test func corruptChecksumReportsHeaderOffset() throws {
        var archive = try archiveBytes([
            fileItem("first", randomBytes(700, seed: 7)),
            fileItem("second", [1, 2, 3]),
        ])
        let secondHeader = 512 + 1024  // header + 700 bytes padded to 1024
        archive[secondHeader + 3] ^= 0x01  // corrupt the name, keep the stored checksum
        var reader = TarReader(source: ArrayByteSource(archive))
        let first = try #require(try reader.next())
        #expect(first.path == "first")
        do {
            _ = try reader.next()
            Issue.record("expected a checksum error")
        } catch let error as TarError {
            #expect(error.offset == Int64(secondHeader))
            #expect(error.description.contains("\(secondHeader)"))
        }
    }

    @Test func truncatedArchivesThrow() throws {
        let archive = try archiveBytes([
            fileItem("a", randomBytes(2000, seed: 8)),
            fileItem("b", [1]),
        ])

        // EOF in the middle of the first entry's content.
        var reader = TarReader(source: ArrayByteSource(Array(archive.prefix(512 + 1500))))
        _ = try #require(try reader.next())
        do {
            var total = 0
            while true {
                let piece = try reader.readContent(maxLength: 4096)
                if piece.isEmpty { break }
                total += piece.count
            }
            Issue.record("expected truncation error after \(total) bytes")
        } catch let error as TarError {
            #expect(error.offset == 0)
        }

        // Same, but skipping the content via next().
        var skipping = TarReader(source: ArrayByteSource(Array(archive.prefix(512 + 1500))))
        _ = try #require(try skipping.next())
        #expect(throws: TarError.self) { _ = try skipping.next() }

        // EOF in the middle of the second header.
        let secondHeader = 512 + 2048
        var headerCut = TarReader(source: ArrayByteSource(Array(archive.prefix(secondHeader + 100))))
        _ = try #require(try headerCut.next())
        do {
            _ = try headerCut.next()
            Issue.record("expected truncated header error")
        } catch let error as TarError {
            #expect(error.offset == Int64(secondHeader))
        }

        // Clean EOF at a block boundary (no end blocks) is a normal end.
        let noEndBlocks = Array(archive.prefix(secondHeader + 1024))
        let read = try readAll(noEndBlocks)
        #expect(read.map(\.entry.path) == ["a", "b"])
    }

    // MARK: GNU tar interop

    @Test func readsArchiveCreatedByGnuTar() throws {
        let temp = try TempDir()
        defer { temp.remove() }
        let src = temp.path("src")
        let mtime: Int64 = 1_600_000_000
        try makeDirectory(src, mode: 0o755)
        try makeDirectory(src.appendingPathComponent("sub/deeper"), mode: 0o750)
        try writeFile(src.appendingPathComponent("hello.txt"), Array("hello, tar\n".utf8), mode: 0o644, mtime: mtime)
        try writeFile(src.appendingPathComponent("empty"), [], mode: 0o600, mtime: mtime)
        let big = randomBytes(200_000, seed: 11)
        try writeFile(src.appendingPathComponent("sub/deeper/big.bin"), big, mode: 0o755, mtime: mtime)
        let longName = String(repeating: "L", count: 150) + ".txt"
        try writeFile(src.appendingPathComponent("sub/" + longName), Array("long".utf8), mode: 0o644, mtime: mtime)
        try FileManager.default.createSymbolicLink(
            atPath: src.appendingPathComponent("link").path,
            withDestinationPath: "hello.txt"
        )

        let archive = temp.path("out.tar")
        let run = try runTar(["-C", src.path, "-cf", archive.path, "."], logs: temp.path("logs"))
        try #require(run.status == 0, "tar failed: \(run.stderr)")

        let entries = byPath(try readArchiveFile(archive))
        #expect(entries["."]?.entry.kind == .directory)
        #expect(entries["./sub"]?.entry.kind == .directory)
        #expect(entries["./sub/deeper"]?.entry.mode == 0o750)

        let hello = try #require(entries["./hello.txt"])
        #expect(hello.entry == TarEntry(path: "./hello.txt", kind: .file, mode: 0o644, mtime: mtime, size: 11, uid: getuid(), gid: getgid()))
        #expect(hello.content == Array("hello, tar\n".utf8))
        #expect(entries["./empty"]?.entry.size == 0)
        #expect(entries["./empty"]?.entry.mode == 0o600)
        #expect(entries["./sub/deeper/big.bin"]?.content == big)
        #expect(entries["./sub/\(longName)"]?.content == Array("long".utf8))
        let link = try #require(entries["./link"])
        #expect(link.entry.kind == .symlink)
        #expect(link.entry.linkTarget == "hello.txt")
        #expect(link.entry.size == 0)
        #expect(entries.count == 8)
    }

    @Test func readsGnuTarThroughPipe() throws {
        let temp = try TempDir()
        defer { temp.remove() }
        let src = temp.path("src")
        try makeDirectory(src, mode: 0o755)
        let big = randomBytes(300_000, seed: 13)
        try writeFile(src.appendingPathComponent("big"), big, mode: 0o644, mtime: 1_600_000_000)
        try writeFile(src.appendingPathComponent("small"), [1, 2, 3], mode: 0o644, mtime: 1_600_000_000)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/tar")
        process.arguments = ["-C", src.path, "-cf", "-", "big", "small"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        var reader = TarReader(source: FileDescriptorByteSource(fd: pipe.fileHandleForReading.fileDescriptor))
        let entries = try readAll(&reader, pieceSize: 100_000)
        // Drain tar's trailing record padding so it can exit.
        _ = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(entries.map(\.entry.path) == ["big", "small"])
        #expect(entries.first?.content == big)
        #expect(entries.last?.content == [1, 2, 3])
    }

    @Test(arguments: ["pax", "gnu"])
    func readsGnuTarLongNames(format: String) throws {
        let temp = try TempDir()
        defer { temp.remove() }
        let src = temp.path("src")
        try makeDirectory(src.appendingPathComponent(longNestedDirectory), mode: 0o755)
        let content = randomBytes(5000, seed: 12)
        let mtime: Int64 = 1_650_000_000
        try writeFile(src.appendingPathComponent(longNestedFile), content, mode: 0o640, mtime: mtime)
        try FileManager.default.createSymbolicLink(
            atPath: src.appendingPathComponent("longlink").path,
            withDestinationPath: longLinkTarget
        )

        let archive = temp.path("out.tar")
        let run = try runTar(
            ["--format=\(format)", "-C", src.path, "-cf", archive.path, "longlink", longNestedFile],
            logs: temp.path("logs")
        )
        try #require(run.status == 0, "tar failed: \(run.stderr)")

        let entries = byPath(try readArchiveFile(archive, pieceSize: 777))
        #expect(entries.count == 2)
        let file = try #require(entries[longNestedFile])
        #expect(file.entry == TarEntry(path: longNestedFile, kind: .file, mode: 0o640, mtime: mtime, size: 5000, uid: getuid(), gid: getgid()))
        #expect(file.content == content)
        let link = try #require(entries["longlink"])
        #expect(link.entry.kind == .symlink)
        #expect(link.entry.linkTarget == longLinkTarget)
    }

    @Test func readsGnuTarUstarPrefix() throws {
        let temp = try TempDir()
        defer { temp.remove() }
        let src = temp.path("src")
        let directory = String(repeating: "d", count: 70) + "/" + String(repeating: "e", count: 70)
        let path = directory + "/" + String(repeating: "f", count: 90)
        try makeDirectory(src.appendingPathComponent(directory), mode: 0o755)
        try writeFile(src.appendingPathComponent(path), Array("prefix".utf8), mode: 0o644, mtime: 1_600_000_000)

        let archive = temp.path("out.tar")
        let run = try runTar(["--format=ustar", "-C", src.path, "-cf", archive.path, path], logs: temp.path("logs"))
        try #require(run.status == 0, "tar failed: \(run.stderr)")

        let entries = try readArchiveFile(archive)
        try #require(entries.count == 1)
        #expect(entries[0].entry.path == path)
        #expect(entries[0].content == Array("prefix".utf8))
    }

    @Test func gnuTarExtractsOurArchive() throws {
        let temp = try TempDir()
        defer { temp.remove() }
        let items = sampleItems()
        let archive = temp.path("ours.tar")

        let fd = open(archive.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        do {
            defer { close(fd) }
            var writer = TarWriter(sink: FileDescriptorByteSink(fd: fd))
            try write(items, to: &writer)
        }

        let logs = temp.path("logs")
        let list = try runTar(["-tvf", archive.path], logs: logs)
        try #require(list.status == 0, "tar -t failed: \(list.stderr)")
        #expect(list.stderr.isEmpty, "tar -t warned: \(list.stderr)")
        for item in items where item.entry.path.allSatisfy(\.isASCII) {
            #expect(list.stdout.contains(item.entry.path), "listing lacks \(item.entry.path)")
        }

        let out = temp.path("extract")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let extract = try runTar(["-xf", archive.path, "-C", out.path], logs: logs)
        try #require(extract.status == 0, "tar -x failed: \(extract.stderr)")

        let fm = FileManager.default
        for item in items {
            let url = out.appendingPathComponent(item.entry.path)
            switch item.entry.kind {
            case .file:
                #expect(try readFileBytes(url) == item.content, "content of \(item.entry.path)")
                let attributes = try fm.attributesOfItem(atPath: url.path)
                #expect((attributes[.posixPermissions] as? NSNumber)?.uint32Value == item.entry.mode)
                let date = try #require(attributes[.modificationDate] as? Date)
                #expect(Int64(date.timeIntervalSince1970) == item.entry.mtime)
            case .directory:
                var isDirectory: ObjCBool = false
                #expect(fm.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue)
            case .symlink:
                #expect(try fm.destinationOfSymbolicLink(atPath: url.path) == item.entry.linkTarget)
            case .hardlink:
                let target = out.appendingPathComponent(try #require(item.entry.linkTarget))
                let a = try fm.attributesOfItem(atPath: url.path)[.systemFileNumber] as? NSNumber
                let b = try fm.attributesOfItem(atPath: target.path)[.systemFileNumber] as? NSNumber
                #expect(a != nil && a == b)
            case .other, .fifo, .socket, .characterDevice, .blockDevice:
                break
            }
        }
        // The top directory's mode is restored once its contents are written.
        let topMode = try fm.attributesOfItem(atPath: out.appendingPathComponent("top").path)[.posixPermissions]
        #expect((topMode as? NSNumber)?.uint32Value == 0o750)
    }
}

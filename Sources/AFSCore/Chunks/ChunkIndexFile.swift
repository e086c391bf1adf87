import Foundation

/// The chunk index on disk: every chunk ID of the log up to a position with its location, sorted
/// and split into checksummed buckets, so a lookup reads one bucket instead of the whole index
/// living in memory (Docs/FORMAT.md §7, index format 2).
///
/// Chunk IDs are SHA-256 digests, uniformly spread, so the top `bucketBits` bits of an ID name its
/// bucket and buckets hold about ``targetBucketEntries`` entries each whatever the store's size.
/// Only the bucket table (4 bytes per bucket: 1/784 of the file) stays in memory. Each bucket
/// carries its own XXH3, checked on every read: damage becomes an error naming the file, never a
/// wrong answer, and opening a large index does not read it whole.
///
/// The file is immutable once renamed into place; a new one is written beside it by
/// ``Writer`` and renamed over it (``ChunkLog`` merges its in-memory changes that way).
final class ChunkIndexFile: Sendable {
    static let magic = Array("AFSIDX01".utf8)
    static let version: UInt32 = 2
    static let headerSize = 96
    static let entrySize = 49
    static let targetBucketEntries = 64
    static let maxBucketBits = 24

    let path: String
    private let file: POSIXFile
    /// The log position this index covers: records at or after it are scanned at open.
    let segment: UInt32
    let offset: Int64
    let count: Int
    let rawBytes: Int64
    let storedBytes: Int64
    /// Records per segment, for GC and recovery (which segments are still referenced).
    let segmentCounts: [UInt32: Int]
    let bucketBits: Int
    /// Entry index where each bucket starts; `bucketStarts[b + 1] - bucketStarts[b]` is its size.
    private let bucketStarts: [UInt32]

    private init(
        path: String, file: POSIXFile, segment: UInt32, offset: Int64, count: Int, rawBytes: Int64, storedBytes: Int64,
        segmentCounts: [UInt32: Int], bucketBits: Int, bucketStarts: [UInt32]
    ) {
        self.path = path
        self.file = file
        self.segment = segment
        self.offset = offset
        self.count = count
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
        self.segmentCounts = segmentCounts
        self.bucketBits = bucketBits
        self.bucketStarts = bucketStarts
    }

    /// The bucket count that keeps buckets near ``targetBucketEntries`` for `count` entries.
    static func bucketBits(forCount count: Int) -> Int {
        var bits = 0
        while bits < maxBucketBits, (count >> bits) > targetBucketEntries { bits += 1 }
        return bits
    }

    static func bucket(of id: ChunkID, bits: Int) -> Int {
        bits == 0 ? 0 : Int(truncatingIfNeeded: id.w0 >> UInt64(64 - bits))
    }

    private func bucketOffset(_ b: Int) -> Int64 {
        Int64(ChunkIndexFile.headerSize) + Int64(bucketStarts[b]) * Int64(ChunkIndexFile.entrySize) + Int64(b) * 8
    }

    private var bucketCount: Int { bucketStarts.count - 1 }

    // MARK: Opening

    /// What is at the index path.
    enum Opened {
        case absent
        /// A format-1 checkpoint (the whole index in one file), read for the upgrade.
        case legacy(IndexCheckpoint)
        case damaged(String)
        case index(ChunkIndexFile)
    }

    /// Opens the index at `path`, reading its header and tables only (not the buckets).
    static func open(path: String) throws(AFSError) -> Opened {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return .absent }
            throw AFSError.io("open", path: path)
        }
        Glibc.close(fd)
        let file = try POSIXFile.open(path, flags: O_RDONLY)
        let size = try file.size()
        let head = try file.read(count: headerSize, at: 0)
        guard head.count >= 12, Array(head[0..<8]) == magic else { return .damaged("it does not start with the index magic") }
        let version = head.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        if version == 1 {
            guard let bytes = try POSIXFile.readWhole(path), let legacy = IndexCheckpoint.decode(bytes) else {
                return .damaged("its format-1 checksum or layout is wrong")
            }
            return .legacy(legacy)
        }
        guard version == ChunkIndexFile.version else { return .damaged("it has index format \(version); this build reads 1 and 2") }
        switch parse(header: head, fileSize: size, readTables: { (count, offset) throws(AFSError) in try file.read(count: count, at: offset) }) {
        case .failure(let why): return .damaged(why.message)
        case .success(let h):
            return .index(
                ChunkIndexFile(
                    path: path, file: file, segment: h.segment, offset: h.offset, count: h.count, rawBytes: h.rawBytes,
                    storedBytes: h.storedBytes, segmentCounts: h.segmentCounts, bucketBits: h.bucketBits, bucketStarts: h.bucketStarts))
        }
    }

    struct Malformed: Error { var message: String }

    struct Header {
        var segment: UInt32
        var offset: Int64
        var count: Int
        var rawBytes: Int64
        var storedBytes: Int64
        var bucketBits: Int
        var segmentCounts: [UInt32: Int]
        var bucketStarts: [UInt32]
    }

    /// Checks a format-2 header and its tables against each other and the file size. Every
    /// number read from the file is bounded before it sizes anything (the fuzz target feeds this).
    static func parse(
        header head: [UInt8], fileSize: Int64, readTables: (Int, Int64) throws(AFSError) -> [UInt8]
    ) -> Result<Header, Malformed> {
        guard head.count == headerSize else { return .failure(Malformed(message: "it is shorter than its header (torn)")) }
        let sealed = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 88, as: UInt64.self)) }
        guard head.withUnsafeBytes({ ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<88])) }) == sealed else {
            return .failure(Malformed(message: "its header checksum does not match"))
        }
        func u32(_ at: Int) -> UInt32 { head.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
        func u64(_ at: Int) -> UInt64 { head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
        let bits = Int(u32(32))
        let segments = Int(u32(36))
        guard let count = Int(exactly: u64(24)), count < Int(UInt32.max), bits <= maxBucketBits, segments < 1 << 24,
            let offset = Int64(exactly: u64(16)), let raw = Int64(exactly: u64(40)), let stored = Int64(exactly: u64(48)),
            let tables = Int64(exactly: u64(56))
        else { return .failure(Malformed(message: "its header holds impossible counts")) }
        let buckets = 1 << bits
        let expectedTables = Int64(headerSize) + Int64(count) * Int64(entrySize) + Int64(buckets) * 8
        let tableBytes = buckets * 4 + segments * 8 + 8
        guard tables == expectedTables else { return .failure(Malformed(message: "its bucket region does not match its entry count")) }
        guard fileSize == tables + Int64(tableBytes) else {
            return .failure(Malformed(message: "it is \(fileSize) bytes where its header says \(tables + Int64(tableBytes)) (torn or truncated)"))
        }
        let table: [UInt8]
        do { table = try readTables(tableBytes, tables) } catch { return .failure(Malformed(message: "its tables cannot be read: \(error)")) }
        guard table.count == tableBytes else { return .failure(Malformed(message: "its tables are short (torn)")) }
        let tableSeal = table.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: tableBytes - 8, as: UInt64.self)) }
        guard table.withUnsafeBytes({ ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<(tableBytes - 8)])) }) == tableSeal else {
            return .failure(Malformed(message: "its bucket table checksum does not match"))
        }
        var starts = [UInt32]()
        starts.reserveCapacity(buckets + 1)
        var total = 0
        var segmentCounts: [UInt32: Int] = [:]
        table.withUnsafeBytes { t in
            starts.append(0)
            for b in 0..<buckets {
                total += Int(UInt32(littleEndian: t.loadUnaligned(fromByteOffset: b * 4, as: UInt32.self)))
                starts.append(UInt32(truncatingIfNeeded: min(total, Int(UInt32.max))))
            }
            for s in 0..<segments {
                let at = buckets * 4 + s * 8
                let n = UInt32(littleEndian: t.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                let c = UInt32(littleEndian: t.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
                segmentCounts[n, default: 0] += Int(c)
            }
        }
        guard total == count, segmentCounts.values.reduce(0, +) == count else {
            return .failure(Malformed(message: "its bucket or segment counts do not add up to its entry count"))
        }
        return .success(
            Header(
                segment: u32(12), offset: offset, count: count, rawBytes: raw, storedBytes: stored, bucketBits: bits,
                segmentCounts: segmentCounts, bucketStarts: starts))
    }

    // MARK: Reading

    /// The location of `id`, or nil when the index does not hold it.
    func lookup(_ id: ChunkID) throws(AFSError) -> ChunkLocation? {
        let b = ChunkIndexFile.bucket(of: id, bits: bucketBits)
        let entries = try bucket(b)
        // Entries are sorted by ID: binary search the decoded bucket.
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].id < id { lo = mid + 1 } else { hi = mid }
        }
        return lo < entries.count && entries[lo].id == id ? entries[lo].location : nil
    }

    /// The entries of bucket `b`, checked against its checksum.
    func bucket(_ b: Int) throws(AFSError) -> [(id: ChunkID, location: ChunkLocation)] {
        let n = Int(bucketStarts[b + 1] - bucketStarts[b])
        let length = n * ChunkIndexFile.entrySize + 8
        let bytes = try file.read(count: length, at: bucketOffset(b))
        return try bytes.withBytes { (buf) throws(AFSError) in try decodeBucket(b, buf, entries: n) }
    }

    private func decodeBucket(_ b: Int, _ buf: UnsafeRawBufferPointer, entries n: Int) throws(AFSError) -> [(id: ChunkID, location: ChunkLocation)] {
        let length = n * ChunkIndexFile.entrySize + 8
        guard buf.count == length else { throw damage("bucket \(b) is cut short") }
        let body = UnsafeRawBufferPointer(rebasing: buf[0..<(length - 8)])
        guard ContentHash.xxh3(body) == UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)) else {
            throw damage("bucket \(b) fails its checksum")
        }
        var out: [(id: ChunkID, location: ChunkLocation)] = []
        out.reserveCapacity(n)
        for i in 0..<n {
            let at = i * ChunkIndexFile.entrySize
            let id = ChunkID(bytes: UnsafeRawBufferPointer(rebasing: body[at..<(at + 32)]))
            func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: body.loadUnaligned(fromByteOffset: at + o, as: UInt32.self)) }
            guard let type = RecordType(rawValue: body[at + 48]) else { throw damage("bucket \(b) holds an unknown record type") }
            out.append((id, ChunkLocation(segment: u32(32), offset: u32(36), storedLength: u32(40), rawLength: u32(44), type: type)))
        }
        return out
    }

    private func damage(_ what: String) -> AFSError {
        AFSError.corrupted(
            "the chunk index \(path) is damaged (\(what)); remove that file and open the store again to rebuild it from the log")
    }

    /// Calls `body` with every entry in ID order, reading about 1 MiB of buckets per call.
    func forEach(_ body: (ChunkID, ChunkLocation) throws(AFSError) -> Void) throws(AFSError) {
        var b = 0
        while b < bucketCount {
            var end = b + 1
            while end < bucketCount, bucketOffset(end + 1) - bucketOffset(b) <= 1 << 20 { end += 1 }
            let bytes = try file.read(count: Int(bucketOffset(end) - bucketOffset(b)), at: bucketOffset(b))
            try bytes.withBytes { (all) throws(AFSError) in
                var at = 0
                for i in b..<end {
                    let n = Int(bucketStarts[i + 1] - bucketStarts[i])
                    let length = n * ChunkIndexFile.entrySize + 8
                    guard at + length <= all.count else { throw damage("bucket \(i) is cut short") }
                    for e in try decodeBucket(i, UnsafeRawBufferPointer(rebasing: all[at..<(at + length)]), entries: n) {
                        try body(e.id, e.location)
                    }
                    at += length
                }
            }
            b = end
        }
    }

    // MARK: Writing

    /// Writes a new index file from entries given in strictly increasing ID order: buckets as
    /// they fill, then the tables and the header, then fsync. ``finish()`` renames it into place.
    final class Writer {
        let path: String
        let temporary: String
        private let file: POSIXFile
        private let bits: Int
        private let segment: UInt32
        private let offset: Int64
        private var buffer: [UInt8] = []
        private var written: Int64 = Int64(ChunkIndexFile.headerSize)
        private var bucketStart: Int
        private var current = 0
        private var bucketCounts: [UInt32]
        private var count = 0
        private var rawBytes: Int64 = 0
        private var storedBytes: Int64 = 0
        private var segmentCounts: [UInt32: UInt32] = [:]
        private var last: ChunkID?

        /// Starts `path`'s replacement, sized for about `expectedCount` entries, covering the log
        /// up to (`segment`, `offset`).
        init(path: String, expectedCount: Int, segment: UInt32, offset: Int64) throws(AFSError) {
            self.path = path
            self.temporary = path + ".tmp"
            self.file = try POSIXFile.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            self.bits = ChunkIndexFile.bucketBits(forCount: expectedCount)
            self.segment = segment
            self.offset = offset
            self.bucketCounts = [UInt32](repeating: 0, count: 1 << bits)
            self.bucketStart = 0
            buffer.reserveCapacity(1 << 20)
        }

        func append(_ id: ChunkID, _ loc: ChunkLocation) throws(AFSError) {
            if let last, !(last < id) { throw AFSError.corrupted("index entries given out of order at \(id.hex) while writing \(temporary)") }
            last = id
            let b = ChunkIndexFile.bucket(of: id, bits: bits)
            while current < b { try closeBucket() }
            id.append(to: &buffer)
            for v in [loc.segment, loc.offset, loc.storedLength, loc.rawLength] {
                withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) }
            }
            buffer.append(loc.type.rawValue)
            bucketCounts[b] += 1
            count += 1
            rawBytes += Int64(loc.rawLength)
            storedBytes += Int64(loc.recordSize)
            segmentCounts[loc.segment, default: 0] += 1
        }

        /// Seals the current bucket with its checksum and moves to the next.
        private func closeBucket() throws(AFSError) {
            let seal = buffer.withUnsafeBytes { ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[bucketStart...])) }
            withUnsafeBytes(of: seal.littleEndian) { buffer.append(contentsOf: $0) }
            current += 1
            if buffer.count >= 1 << 20 {
                try file.write(buffer, at: written)
                written += Int64(buffer.count)
                buffer.removeAll(keepingCapacity: true)
            }
            bucketStart = buffer.count
        }

        /// Completes the file, makes it durable and renames it over `path`; returns it opened.
        func finish() throws(AFSError) -> ChunkIndexFile {
            while current < bucketCounts.count { try closeBucket() }
            var tables = BinaryWriter(capacity: bucketCounts.count * 4 + segmentCounts.count * 8 + 8)
            for c in bucketCounts { tables.u32(c) }
            for (s, c) in segmentCounts.sorted(by: { $0.key < $1.key }) {
                tables.u32(s)
                tables.u32(c)
            }
            tables.u64(ContentHash.xxh3(tables.bytes))
            buffer.append(contentsOf: tables.bytes)
            try file.write(buffer, at: written)
            let tablesAt = written + Int64(buffer.count - tables.bytes.count)
            var h = BinaryWriter(capacity: ChunkIndexFile.headerSize)
            h.raw(ChunkIndexFile.magic)
            h.u32(ChunkIndexFile.version)
            h.u32(segment)
            h.u64(UInt64(offset))
            h.u64(UInt64(count))
            h.u32(UInt32(bits))
            h.u32(UInt32(segmentCounts.count))
            h.u64(UInt64(rawBytes))
            h.u64(UInt64(storedBytes))
            h.u64(UInt64(tablesAt))
            while h.bytes.count < 88 { h.u8(0) }
            h.u64(ContentHash.xxh3(h.bytes))
            try file.write(h.bytes, at: 0)
            try file.sync()
            PowerLossSimulator.willRename(temporary, to: path)
            guard rename(temporary, path) == 0 else { throw AFSError.io("rename", path: path) }
            try POSIXFile.syncDirectory((path as NSString).deletingLastPathComponent)
            guard case .index(let opened) = try ChunkIndexFile.open(path: path) else {
                throw AFSError.corrupted("the chunk index \(path) just written does not read back")
            }
            return opened
        }
    }
}

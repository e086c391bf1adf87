/// Format 1 of the chunk index file (Docs/FORMAT.md §7): every entry in one file, read whole.
/// Kept to read stores written before format 2 (``ChunkIndexFile``), which opening upgrades in
/// place, and to write one in the upgrade test.
///
/// Layout: magic "AFSIDX01", u32 version, u32 segment, u64 offset, u64 count, then `count` entries
/// of id(32) segment(u32) offset(u32) stored(u32) raw(u32) type(u8), then XXH3-64 of all before.
/// A checkpoint that fails its checksum is ignored and the whole log is scanned instead.
struct IndexCheckpoint {
    var segment: UInt32
    var offset: Int64
    var entries: [ChunkID: ChunkLocation]

    static let magic = Array("AFSIDX01".utf8)
    static let entrySize = 49

    func save(path: String) throws(AFSError) {
        var w = BinaryWriter(capacity: 32 + entries.count * IndexCheckpoint.entrySize + 8)
        w.raw(IndexCheckpoint.magic)
        w.u32(1)
        w.u32(segment)
        w.u64(UInt64(offset))
        w.u64(UInt64(entries.count))
        for (id, loc) in entries {
            w.id(id)
            w.u32(loc.segment)
            w.u32(loc.offset)
            w.u32(loc.storedLength)
            w.u32(loc.rawLength)
            w.u8(loc.type.rawValue)
        }
        w.u64(ContentHash.xxh3(w.bytes))
        try POSIXFile.writeAtomically(w.bytes, to: path)
    }

    static func load(path: String) throws(AFSError) -> IndexCheckpoint? {
        guard let bytes = try POSIXFile.readWhole(path) else { return nil }
        return decode(bytes)
    }

    /// Parses a checkpoint file's bytes; nil when they are not a whole, intact checkpoint (the
    /// log is then scanned instead).
    static func decode(_ bytes: [UInt8]) -> IndexCheckpoint? {
        guard bytes.count >= 40 else { return nil }
        let body = bytes.count - 8
        let stored = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: body, as: UInt64.self)) }
        guard bytes.withUnsafeBytes({ ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }) == stored else {
            return nil
        }
        var r = BinaryReader(bytes)
        do {
            guard Array(try r.raw(8)) == magic, try r.u32() == 1 else { return nil }
            let segment = try r.u32()
            // Counts and offsets from the file are checked before use: a value past Int's range
            // (which no store writes) refuses the checkpoint instead of trapping.
            guard let offset = Int64(exactly: try r.u64()), let count = Int(exactly: try r.u64()),
                case let (size, overflow) = count.multipliedReportingOverflow(by: entrySize), !overflow, size == body - 32
            else { return nil }
            var entries = [ChunkID: ChunkLocation](minimumCapacity: count)
            for _ in 0..<count {
                let id = try r.id()
                let seg = try r.u32()
                let off = try r.u32()
                let st = try r.u32()
                let raw = try r.u32()
                guard let type = RecordType(rawValue: try r.u8()) else { return nil }
                entries[id] = ChunkLocation(segment: seg, offset: off, storedLength: st, rawLength: raw, type: type)
            }
            return IndexCheckpoint(segment: segment, offset: offset, entries: entries)
        } catch {
            return nil
        }
    }
}

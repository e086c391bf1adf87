/// Sequential reader over one segment file with a read-ahead window, used by recovery and verify.
struct SegmentReader {
    enum Item {
        case end
        case record(RecordCodec.Header, totalSize: Int)
        case bad(String)
    }

    let file: POSIXFile
    let size: Int64
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0
    private static let windowSize = 4 << 20

    init(file: POSIXFile, size: Int64) {
        self.file = file
        self.size = size
    }

    /// Ensures [offset, offset+count) is in the window; returns the index of `offset` in it.
    private mutating func ensure(_ offset: Int64, _ count: Int) throws(AFSError) -> Int? {
        guard offset >= 0, offset + Int64(count) <= size else { return nil }
        if offset < windowStart || offset + Int64(count) > windowStart + Int64(window.count) {
            let length = Int(min(Int64(max(count, SegmentReader.windowSize)), size - offset))
            window = try file.read(count: length, at: offset)
            windowStart = offset
            guard window.count >= count else { return nil }
        }
        return Int(offset - windowStart)
    }

    /// Decodes and checks the record at `offset`, payload included.
    mutating func record(at offset: Int64) throws(AFSError) -> Item {
        guard let h0 = try ensure(offset, RecordCodec.headerSize) else { return .bad("header runs past end of segment") }
        let decoded = window.withUnsafeBytes {
            RecordCodec.decodeHeader(UnsafeRawBufferPointer(rebasing: $0[h0..<h0 + RecordCodec.headerSize]))
        }
        switch decoded {
        case .end: return .end
        case .invalid(let why): return .bad(why)
        case .header(let h):
            let total = RecordCodec.totalSize(storedLength: h.storedLength)
            guard let r0 = try ensure(offset, total) else { return .bad("record runs past end of segment") }
            let ok = window.withUnsafeBytes {
                RecordCodec.checksumMatches(UnsafeRawBufferPointer(rebasing: $0[r0..<r0 + total]), storedLength: h.storedLength)
            }
            return ok ? .record(h, totalSize: total) : .bad("checksum mismatch")
        }
    }

    /// The verified raw payload of the record at `offset` (for verify).
    mutating func payload(at offset: Int64, header: RecordCodec.Header) throws(AFSError) -> [UInt8]? {
        let total = RecordCodec.totalSize(storedLength: header.storedLength)
        guard let r0 = try ensure(offset, total) else { return nil }
        return window.withUnsafeBytes { RecordCodec.payload(UnsafeRawBufferPointer(rebasing: $0[r0..<r0 + total]), header: header) }
    }

    /// Whether any checksum-valid record starts after `offset` (records are 8-byte aligned).
    mutating func anyValidRecord(after offset: Int64) throws(AFSError) -> Bool {
        try !validRecords(after: offset, limit: 1).isEmpty
    }

    /// The checksum-valid records that start after `offset` (records are 8-byte aligned), in
    /// order, at most `limit`: probed at every aligned offset past damage, and from each valid
    /// record's end on (so records stored inside another's payload are not counted).
    mutating func validRecords(after offset: Int64, limit: Int = .max) throws(AFSError) -> [RecordCodec.Header] {
        var found: [RecordCodec.Header] = []
        var probe = offset + 8
        while probe + Int64(RecordCodec.headerSize) <= size, found.count < limit {
            guard let i = try ensure(probe, 4) else { break }
            let m = window.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
            if m == RecordCodec.magic, case .record(let header, let total) = try record(at: probe) {
                found.append(header)
                probe += Int64(total)
            } else {
                probe += 8
            }
        }
        return found
    }
}

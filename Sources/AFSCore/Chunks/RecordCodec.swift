/// What a record in the chunk log holds. The type is part of the record, not of the ID, so the same
/// bytes stored as a file chunk and as a node would share an ID; in practice they never collide.
/// What a stored record is; kept with it so garbage collection and verification know how to read it.
public enum RecordType: UInt8, Sendable {
    /// A piece of file content.
    case chunk = 1
    /// A tree node (directory map node).
    case node = 2
    /// The ordered chunk list of a multi-chunk file.
    case chunkList = 3
    /// A commit object.
    case commit = 4
}

/// Encodes and decodes chunk-log records (Docs/FORMAT.md, "Records").
///
/// ```
/// offset size
///  0      4   magic "AFSR" (0x52534641 little endian); 0 means "end of log" (segments are pre-zeroed)
///  4      1   type (RecordType)
///  5      1   flags (bit 0: payload is lz4; bit 1: bytes 6-7 hold the sync epoch)
///  6      2   sync epoch (with flag bit 1, else 0): the log's completed syncs when it was appended
///  8      4   stored payload length
/// 12      4   raw (uncompressed) length
/// 16     32   id: SHA-256 of the raw bytes
/// 48      n   payload
/// 48+n    8   XXH3-64 of bytes [0, 48+n)
///             zero padding to a multiple of 8
/// ```
enum RecordCodec {
    static let magic: UInt32 = 0x5253_4641
    static let headerSize = 48
    static let trailerSize = 8
    static let flagLZ4: UInt8 = 1
    /// Bytes 6-7 hold the sync epoch (``ChunkLog``'s count of completed syncs, modulo 2^16, when
    /// the record was appended). Recovery uses it to tell a power cut's lost, reordered unsynced
    /// tail from damage to records that were durable.
    static let flagSyncEpoch: UInt8 = 2
    /// No record may exceed this; bounds a corrupt length field.
    static let maxPayload = 16 << 20

    struct Header: Sendable {
        var type: RecordType
        var flags: UInt8
        var storedLength: Int
        var rawLength: Int
        var id: ChunkID
        /// The log's sync epoch when the record was appended, if it carries one.
        var syncEpoch: UInt16? = nil
    }

    static func totalSize(storedLength: Int) -> Int {
        (headerSize + storedLength + trailerSize + 7) & ~7
    }

    /// Builds a full record; compresses when that saves at least 10 %.
    ///
    /// One buffer, not zero-filled: lz4 writes straight into the payload's place (or the raw
    /// bytes are copied there), so a chunk costs one allocation and no intermediate copy.
    static func encode(type: RecordType, id: ChunkID, raw: UnsafeRawBufferPointer, syncEpoch: UInt16? = nil) -> [UInt8] {
        let bound = Compression.bound(raw.count)
        let capacity = totalSize(storedLength: max(bound, raw.count))
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            var stored = raw.count
            var flags: UInt8 = syncEpoch == nil ? 0 : flagSyncEpoch
            if bound > 0, let n = Compression.compress(raw, into: UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<(headerSize + bound)])) {
                stored = n
                flags |= flagLZ4
            } else if raw.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<(headerSize + raw.count)]).copyMemory(from: raw)
            }
            out.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            out[4] = type.rawValue
            out[5] = flags
            out.storeBytes(of: (syncEpoch ?? 0).littleEndian, toByteOffset: 6, as: UInt16.self)
            out.storeBytes(of: UInt32(stored).littleEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: UInt32(raw.count).littleEndian, toByteOffset: 12, as: UInt32.self)
            out.storeBytes(of: id.w0.bigEndian, toByteOffset: 16, as: UInt64.self)
            out.storeBytes(of: id.w1.bigEndian, toByteOffset: 24, as: UInt64.self)
            out.storeBytes(of: id.w2.bigEndian, toByteOffset: 32, as: UInt64.self)
            out.storeBytes(of: id.w3.bigEndian, toByteOffset: 40, as: UInt64.self)
            let end = headerSize + stored
            let checksum = ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: out[0..<end]))
            out.storeBytes(of: checksum.littleEndian, toByteOffset: end, as: UInt64.self)
            let total = totalSize(storedLength: stored)
            for i in (end + trailerSize)..<total { out[i] = 0 }
            initialized = total
        }
    }

    /// The sync epoch of an encoded record (nil if it carries none).
    static func syncEpoch(of record: [UInt8]) -> UInt16? {
        guard record.count >= headerSize, record[5] & flagSyncEpoch != 0 else { return nil }
        return UInt16(record[6]) | UInt16(record[7]) << 8
    }

    /// Sets the sync epoch of an encoded record and reseals its checksum (the epoch is decided
    /// under the log's lock, after the record was compressed and sealed outside it).
    static func restamp(_ record: inout [UInt8], syncEpoch: UInt16) {
        record[5] |= flagSyncEpoch
        record[6] = UInt8(truncatingIfNeeded: syncEpoch)
        record[7] = UInt8(truncatingIfNeeded: syncEpoch >> 8)
        let stored = record.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))) }
        let end = headerSize + stored
        let checksum = record.withUnsafeBytes { ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
        record.withUnsafeMutableBytes { $0.storeBytes(of: checksum.littleEndian, toByteOffset: end, as: UInt64.self) }
    }

    enum HeaderResult {
        case end
        case header(Header)
        case invalid(String)
    }

    /// Parses the 48-byte header at the start of `bytes`.
    static func decodeHeader(_ bytes: UnsafeRawBufferPointer) -> HeaderResult {
        guard bytes.count >= headerSize else { return .invalid("short header") }
        let m = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        if m == 0 { return .end }
        guard m == magic else { return .invalid("bad magic") }
        guard let type = RecordType(rawValue: bytes[4]) else { return .invalid("unknown record type \(bytes[4])") }
        let stored = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let raw = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
        guard stored <= maxPayload, raw <= maxPayload else { return .invalid("length out of range") }
        let id = ChunkID(bytes: UnsafeRawBufferPointer(rebasing: bytes[16..<48]))
        let epoch = bytes[5] & flagSyncEpoch == 0 ? nil : UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        return .header(Header(type: type, flags: bytes[5], storedLength: stored, rawLength: raw, id: id, syncEpoch: epoch))
    }

    /// Checks the trailer checksum of a whole record (header included).
    static func checksumMatches(_ record: UnsafeRawBufferPointer, storedLength: Int) -> Bool {
        let end = headerSize + storedLength
        guard record.count >= end + trailerSize else { return false }
        let expected = UInt64(littleEndian: record.loadUnaligned(fromByteOffset: end, as: UInt64.self))
        return ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: record[0..<end])) == expected
    }

    /// The raw bytes of a verified record, or nil if the payload does not decompress to its length.
    static func payload(_ record: UnsafeRawBufferPointer, header: Header) -> [UInt8]? {
        let body = UnsafeRawBufferPointer(rebasing: record[headerSize..<headerSize + header.storedLength])
        if header.flags & flagLZ4 != 0 {
            return Compression.decompress(body, rawLength: header.rawLength)
        }
        return header.storedLength == header.rawLength ? Array(body) : nil
    }
}

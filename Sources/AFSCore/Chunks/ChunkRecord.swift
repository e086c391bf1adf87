/// The self-checking record every chunk store writes (FORMAT.md, "Records"): a header with type,
/// lengths and the SHA-256 identity, the payload (LZ4 when that saves 10 %), an XXH3 checksum.
///
/// Public so that a ``ChunkStore`` other than the segment log (S3 packs) stores the same bytes
/// and detects damage the same way: a record that fails any check is never returned as data.
public enum ChunkRecord {
    /// The largest raw payload a record holds.
    public static var maxPayload: Int { RecordCodec.maxPayload }
    /// Bytes of the fixed header that ``size(ofHeader:)`` reads.
    public static var headerSize: Int { RecordCodec.headerSize }

    /// The identity of `raw` (its SHA-256) and its encoded record.
    public static func encode(_ type: RecordType, _ raw: UnsafeRawBufferPointer) -> (id: ChunkID, record: [UInt8]) {
        let id = ContentHash.sha256(raw)
        return (id, RecordCodec.encode(type: type, id: id, raw: raw))
    }

    /// The record again for bytes whose identity is known (relocation during garbage collection).
    public static func encode(_ type: RecordType, id: ChunkID, _ raw: [UInt8]) -> [UInt8] {
        raw.withUnsafeBytes { RecordCodec.encode(type: type, id: id, raw: $0) }
    }

    /// The whole size of the record whose header starts `bytes` (padding included), its type and
    /// identity; nil with the reason when the header is not a valid record header.
    public static func size(ofHeader bytes: UnsafeRawBufferPointer) -> Result<(size: Int, type: RecordType, id: ChunkID), ChunkRecordError> {
        switch RecordCodec.decodeHeader(bytes) {
        case .end: return .failure(ChunkRecordError(reason: "no record (zero magic)"))
        case .invalid(let why): return .failure(ChunkRecordError(reason: why))
        case .header(let h): return .success((RecordCodec.totalSize(storedLength: h.storedLength), h.type, h.id))
        }
    }

    /// Decodes and checks a whole record: header, checksum, decompression, and that the payload's
    /// SHA-256 is the identity in the header (and `expected`, when given).
    public static func decode(_ record: [UInt8], expected: ChunkID? = nil) -> Result<(type: RecordType, id: ChunkID, raw: [UInt8]), ChunkRecordError> {
        record.withUnsafeBytes { buf in
            guard case .header(let h) = RecordCodec.decodeHeader(buf) else {
                return .failure(ChunkRecordError(reason: "bad record header"))
            }
            guard RecordCodec.checksumMatches(buf, storedLength: h.storedLength) else { return .failure(ChunkRecordError(reason: "checksum mismatch")) }
            guard let raw = RecordCodec.payload(buf, header: h) else { return .failure(ChunkRecordError(reason: "payload does not decompress")) }
            let actual = raw.withUnsafeBytes { ContentHash.sha256($0) }
            guard actual == h.id else { return .failure(ChunkRecordError(reason: "content does not match its id")) }
            if let expected, expected != h.id { return .failure(ChunkRecordError(reason: "record holds \(h.id.hex), not \(expected.hex)")) }
            return .success((h.type, h.id, raw))
        }
    }
}

/// Why bytes are not a valid record.
public struct ChunkRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which check failed, e.g. `checksum mismatch` or `content does not match its id`.
    public var reason: String
    /// An error whose message is `reason`.
    public init(reason: String) { self.reason = reason }
    /// The reason, so the error prints as what went wrong.
    public var description: String { reason }
}

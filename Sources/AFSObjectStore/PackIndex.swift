import AFSCore
import Crypto

/// Where each record of one pack object is: the `.idx` object written beside every pack.
///
/// ```
/// "AFSPIDX1"                        8 bytes
/// count                             u32 little endian
/// count × { id 32 | offset u32 | size u32 | rawLength u32 | type u8 }
/// SHA-256 of everything above       32 bytes
/// ```
/// A pack is written first and its index second, so an index always names a complete pack; a
/// pack without an index (a crash between the two) holds nothing the catalog refers to.
package struct PackIndex: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var id: ChunkID
        var offset: Int
        var size: Int
        var rawLength: Int
        var type: RecordType
    }

    var entries: [Entry]

    static let magic = Array("AFSPIDX1".utf8)
    static let entrySize = 32 + 4 + 4 + 4 + 1

    var encoded: [UInt8] {
        var out = PackIndex.magic
        out.reserveCapacity(8 + 4 + entries.count * PackIndex.entrySize + 32)
        PackIndex.append(UInt32(entries.count), to: &out)
        for e in entries {
            out += e.id.bytes
            PackIndex.append(UInt32(e.offset), to: &out)
            PackIndex.append(UInt32(e.size), to: &out)
            PackIndex.append(UInt32(e.rawLength), to: &out)
            out.append(e.type.rawValue)
        }
        out += SHA256.hash(data: out)
        return out
    }

    /// Parses an index object; nil with why when it is damaged.
    static func decode(_ bytes: [UInt8]) -> Result<PackIndex, ChunkRecordError> {
        guard bytes.count >= 8 + 4 + 32, Array(bytes[0..<8]) == magic else { return .failure(ChunkRecordError(reason: "not a pack index")) }
        let body = bytes[0..<(bytes.count - 32)]
        guard Array(SHA256.hash(data: body)) == Array(bytes[(bytes.count - 32)...]) else { return .failure(ChunkRecordError(reason: "pack index checksum mismatch")) }
        let count = Int(u32(bytes, 8))
        guard body.count == 12 + count * entrySize else { return .failure(ChunkRecordError(reason: "pack index length does not match its count")) }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var at = 12
        for _ in 0..<count {
            guard let id = ChunkID(rawBytes: bytes[at..<(at + 32)]), let type = RecordType(rawValue: bytes[at + 44]) else {
                return .failure(ChunkRecordError(reason: "pack index entry is damaged"))
            }
            entries.append(Entry(id: id, offset: Int(u32(bytes, at + 32)), size: Int(u32(bytes, at + 36)), rawLength: Int(u32(bytes, at + 40)), type: type))
            at += entrySize
        }
        return .success(PackIndex(entries: entries))
    }

    /// For the fuzz target (`AFSFuzz`): an index object whose body the fuzzer varies, sealed with
    /// the SHA-256 a real one carries so the parser past the seal is reached, and as given.
    package static func fuzz(_ body: [UInt8]) {
        _ = decode(body + Array(SHA256.hash(data: body)))
        _ = decode(body)
    }

    static func append(_ v: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}

/// Reads what `BinaryWriter` wrote, failing (never trapping) on short or malformed input.
struct BinaryReader {
    struct Malformed: Error {}

    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(Malformed) -> UInt8 {
        guard offset < bytes.count else { throw Malformed() }
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(Malformed) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Malformed() }
        let v = bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        offset += size
        return v
    }

    mutating func u16() throws(Malformed) -> UInt16 { try fixed(UInt16.self) }
    mutating func u32() throws(Malformed) -> UInt32 { try fixed(UInt32.self) }
    mutating func u64() throws(Malformed) -> UInt64 { try fixed(UInt64.self) }

    mutating func varint() throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            guard shift < 64 else { throw Malformed() }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint that must fit comfortably in an Int (lengths, counts).
    mutating func length(max: Int = Int(Int32.max)) throws(Malformed) -> Int {
        let v = try varint()
        guard v <= UInt64(max) else { throw Malformed() }
        return Int(v)
    }

    mutating func svarint() throws(Malformed) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    mutating func id() throws(Malformed) -> ChunkID {
        guard remaining >= 32 else { throw Malformed() }
        let id = bytes.withUnsafeBytes { ChunkID(bytes: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 32])) }
        offset += 32
        return id
    }

    mutating func raw(_ count: Int) throws(Malformed) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else { throw Malformed() }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func lengthPrefixed() throws(Malformed) -> [UInt8] {
        let n = try length()
        return Array(try raw(n))
    }

    mutating func string() throws(Malformed) -> String {
        let b = try lengthPrefixed()
        guard let s = String(validating: b, as: UTF8.self) else { throw Malformed() }
        return s
    }
}

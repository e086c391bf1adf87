/// The identity of a chunk: the SHA-256 of its uncompressed bytes.
///
/// Stored as four big-endian words so that comparison is byte order and hashing is one word
/// (the digest is already uniformly distributed).
public struct ChunkID: Hashable, Comparable, Sendable, CustomStringConvertible {
    @usableFromInline var w0: UInt64
    @usableFromInline var w1: UInt64
    @usableFromInline var w2: UInt64
    @usableFromInline var w3: UInt64

    static let byteCount = 32

    /// Reads 32 bytes. The buffer must hold at least that many.
    init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 32)
        w0 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        w1 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        w2 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        w3 = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    init(words w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// The identity stored as 32 bytes (nil unless exactly 32 are given).
    public init?(rawBytes: some Collection<UInt8>) {
        guard rawBytes.count == 32 else { return nil }
        let array = Array(rawBytes)
        self = array.withUnsafeBytes { ChunkID(bytes: $0) }
    }

    /// Parses 64 lowercase or uppercase hex digits.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, c) in utf8.enumerated() {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            words[i / 16] = words[i / 16] << 4 | UInt64(v)
        }
        self.init(words: words[0], words[1], words[2], words[3])
    }

    /// Appends the 32 bytes to `buffer`.
    func append(to buffer: inout [UInt8]) {
        for word in [w0, w1, w2, w3] {
            withUnsafeBytes(of: word.bigEndian) { buffer.append(contentsOf: $0) }
        }
    }

    /// The 32 bytes, as stored in records and indexes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        append(to: &out)
        return out
    }

    /// 64 lowercase hex digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 60, through: 0, by: -4) {
                out.append(digits[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The same 64 lowercase hex digits as `hex`.
    public var description: String { hex }

    /// Hashes only the first word: the digest is uniformly distributed, so that is enough.
    public func hash(into hasher: inout Hasher) { hasher.combine(w0) }

    /// Orders IDs by their 32 bytes, compared as unsigned big-endian numbers.
    public static func < (lhs: ChunkID, rhs: ChunkID) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }
}

extension ChunkID {
    /// The SHA-256 of `bytes`: the ID the store gives content equal to them.
    public static func digest(of bytes: [UInt8]) -> ChunkID { ContentHash.sha256(bytes) }
}

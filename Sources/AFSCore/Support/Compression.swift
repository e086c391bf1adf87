import CLZ4

/// LZ4 block compression of single chunks.
enum Compression {
    /// The output space ``compress(_:into:)`` needs for `count` input bytes (0: not compressed at all).
    static func bound(_ count: Int) -> Int {
        guard count >= 64, count < Int(Int32.max) else { return 0 }
        return Int(LZ4_compressBound(Int32(count)))
    }

    /// Compresses `input` into `output` (at least ``bound(_:)`` bytes); returns the compressed
    /// length, or nil when it saves less than about 10 %: such chunks are stored raw.
    static func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let bound = bound(input.count)
        guard bound > 0, output.count >= bound else { return nil }
        let written = LZ4_compress_default(
            input.baseAddress!.assumingMemoryBound(to: CChar.self),
            output.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(input.count), Int32(bound))
        guard written > 0, Int(written) <= input.count - input.count / 10 else { return nil }
        return Int(written)
    }

    /// Decompresses exactly `rawLength` bytes; anything else is corruption.
    static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) -> [UInt8]? {
        guard rawLength >= 0, input.count < Int(Int32.max) else { return nil }
        if rawLength == 0 { return [] }
        var produced: Int32 = 0
        let output = [UInt8](unsafeUninitializedCapacity: rawLength) { out, initialized in
            produced = LZ4_decompress_safe(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(rawLength))
            // Anything but exactly rawLength bytes is corruption, and nothing of it is exposed.
            initialized = Int(produced) == rawLength ? rawLength : 0
        }
        return Int(produced) == rawLength ? output : nil
    }
}

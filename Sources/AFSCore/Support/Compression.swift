import CLZ4

/// LZ4 block compression of single chunks.
enum Compression {
    /// Compresses `input`, or returns nil when it saves less than about 10 %: such chunks are stored raw.
    static func compressIfWorthwhile(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard input.count >= 64, input.count < Int(Int32.max) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            LZ4_compress_default(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                out.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(bound))
        }
        guard written > 0, Int(written) <= input.count - input.count / 10 else { return nil }
        output.removeSubrange(Int(written)...)
        return output
    }

    /// Decompresses exactly `rawLength` bytes; anything else is corruption.
    static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) -> [UInt8]? {
        guard rawLength >= 0, input.count < Int(Int32.max) else { return nil }
        if rawLength == 0 { return [] }
        var output = [UInt8](repeating: 0, count: rawLength)
        let produced = output.withUnsafeMutableBytes { out in
            LZ4_decompress_safe(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                out.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(rawLength))
        }
        return Int(produced) == rawLength ? output : nil
    }
}

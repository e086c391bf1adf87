import CLZ4

/// LZ4 block compression of single chunks.
enum Compression {
    /// Compresses `input`, or returns nil when it saves less than about 10 %: such chunks are stored raw.
    static func compressIfWorthwhile(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard input.count >= 64, input.count < Int(Int32.max) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        // The output is not zero-filled first: lz4 writes what it reports, and only that is kept.
        var written: Int32 = 0
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, initialized in
            written = LZ4_compress_default(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(bound))
            initialized = max(0, Int(written))
        }
        guard written > 0, Int(written) <= input.count - input.count / 10 else { return nil }
        return output
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

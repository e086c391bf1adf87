/// FastCDC-style content-defined chunking (Xia et al., ATC'16) with normalized chunking.
///
/// Cut points depend only on the bytes around them, so an insertion early in a large file moves
/// only the chunk it lands in: the rest of the file dedups against the previous version.
/// Gear hash, cut-point skipping below `minSize`, a stricter mask before `averageSize` and a looser
/// one after it (normalization level 2), a hard cut at `maxSize`.
struct ContentDefinedChunker: Sendable {
    let minSize: Int
    let averageSize: Int
    let maxSize: Int
    private let maskSmall: UInt64
    private let maskLarge: UInt64

    static let standard = ContentDefinedChunker(minSize: 4 << 10, averageSize: 16 << 10, maxSize: 64 << 10)

    init(minSize: Int, averageSize: Int, maxSize: Int) {
        precondition(minSize > 0 && minSize < averageSize && averageSize < maxSize)
        self.minSize = minSize
        self.averageSize = averageSize
        self.maxSize = maxSize
        let bits = UInt64(averageSize.trailingZeroBitCount)
        maskSmall = ((1 << (bits + 2)) - 1) << (64 - (bits + 2))
        maskLarge = ((1 << (bits - 2)) - 1) << (64 - (bits - 2))
    }

    /// 256 pseudo-random words from a fixed seed (splitmix64): part of the format, never change.
    static let gear: [UInt64] = {
        var state: UInt64 = 0x4145_5448_4552_4653  // "AETHERFS"
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()

    /// Length of the first chunk of `data` (all of it when shorter than `minSize`).
    func cutPoint(_ data: UnsafeRawBufferPointer) -> Int {
        let n = data.count
        if n <= minSize { return n }
        let end = min(n, maxSize)
        let normal = min(end, averageSize)
        var hash: UInt64 = 0
        var i = minSize
        return ContentDefinedChunker.gear.withUnsafeBufferPointer { g in
            while i < normal {
                hash = (hash << 1) &+ g[Int(data[i])]
                if hash & maskSmall == 0 { return i + 1 }
                i += 1
            }
            while i < end {
                hash = (hash << 1) &+ g[Int(data[i])]
                if hash & maskLarge == 0 { return i + 1 }
                i += 1
            }
            return end
        }
    }

    /// Chunk boundaries of a whole buffer, as ranges.
    func split(_ data: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < data.count {
            let length = cutPoint(UnsafeRawBufferPointer(rebasing: data[start...]))
            ranges.append(start..<start + length)
            start += length
        }
        return ranges
    }
}

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
    func cutPoint(_ data: UnsafeRawBufferPointer) -> Int { firstCut(data).length }

    /// The first chunk of `data` and whether its end is a real cut (the gear hash matched, or the
    /// chunk reached `maxSize`) rather than the end of `data`. Only a real cut may end a chunk
    /// that is followed by another.
    func firstCut(_ data: UnsafeRawBufferPointer) -> (length: Int, isCut: Bool) {
        let n = data.count
        if n <= minSize { return (n, false) }
        let end = min(n, maxSize)
        let normal = min(end, averageSize)
        var hash: UInt64 = 0
        var i = minSize
        return ContentDefinedChunker.gear.withUnsafeBufferPointer { g in
            while i < normal {
                hash = (hash << 1) &+ g[Int(data[i])]
                if hash & maskSmall == 0 { return (i + 1, true) }
                i += 1
            }
            while i < end {
                hash = (hash << 1) &+ g[Int(data[i])]
                if hash & maskLarge == 0 { return (i + 1, true) }
                i += 1
            }
            return (end, end == maxSize)
        }
    }

    /// Whether `chunk` is one this chunker could have cut: no earlier cut inside it, and, unless
    /// it is the file's last, ending at a real cut. Chunks a client cut itself are checked with
    /// this, so a file uploaded chunk by chunk gets the same chunks (and content ID) as the same
    /// bytes uploaded whole.
    func isCanonical(_ chunk: UnsafeRawBufferPointer, last: Bool) -> Bool {
        guard !chunk.isEmpty else { return false }
        let (length, isCut) = firstCut(chunk)
        return length == chunk.count && (last || isCut)
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

import Foundation

/// Cuts bytes into content-defined chunks and stores them: the cut points are found in order on
/// the caller's thread while other lanes hash, compress and append the chunks already cut, and
/// the caller joins them once it has cut the last one.
///
/// Why: finding cut points is inherently sequential but cheap (about a fifth of a large write's
/// CPU), while SHA-256 and lz4, most of the rest, are independent per chunk and the chunk store
/// takes concurrent puts (Docs/perf/profiles.md §2). The caller always does part of the work, so
/// progress never depends on a pool thread being free.
final class ChunkPipeline: @unchecked Sendable {
    // @unchecked: every var is guarded by `condition`; `input` is only read, and stays valid
    // until `run` returns (it waits for every lane).
    private let condition = NSCondition()
    private var ranges: [Range<Int>] = []
    private var ids: [ChunkID] = []
    private var next = 0
    private var cutting = true
    private var failure: AFSError?
    private let log: any ChunkStore
    private let input: UnsafeRawBufferPointer

    /// Below this many bytes to cut, everything runs on the caller's thread.
    static let parallelThreshold = 256 << 10

    private init(log: any ChunkStore, input: UnsafeRawBufferPointer) {
        self.log = log
        self.input = input
    }

    /// Cuts and stores chunks of `bytes` while more than `keep` bytes remain uncut (a cut point
    /// needs `chunker.maxSize` of lookahead unless the input ends). Returns the chunks in order
    /// and how many bytes they cover. Not durable until the chunk store syncs.
    static func store(
        _ bytes: UnsafeRawBufferPointer, keep: Int, chunker: ContentDefinedChunker, log: any ChunkStore, workers: Int
    ) throws(AFSError) -> (items: [ChunkList.Item], consumed: Int) {
        if workers < 2 || bytes.count - keep < parallelThreshold {
            var items: [ChunkList.Item] = []
            var start = 0
            while bytes.count - start > keep {
                let length = chunker.cutPoint(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                items.append(ChunkList.Item(id: try log.put(.chunk, UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])), length: length))
                start += length
            }
            return (items, start)
        }
        let pipeline = ChunkPipeline(log: log, input: bytes)
        let lanes = DispatchGroup()
        for _ in 1..<workers {
            DispatchQueue.global().async(group: lanes) { pipeline.drain() }
        }
        var start = 0
        while bytes.count - start > keep {
            let length = chunker.cutPoint(UnsafeRawBufferPointer(rebasing: bytes[start...]))
            pipeline.condition.lock()
            if pipeline.failure != nil {
                pipeline.condition.unlock()
                break
            }
            pipeline.ranges.append(start..<(start + length))
            pipeline.ids.append(ChunkID(words: 0, 0, 0, 0))
            pipeline.condition.signal()
            pipeline.condition.unlock()
            start += length
        }
        pipeline.condition.lock()
        pipeline.cutting = false
        pipeline.condition.broadcast()
        pipeline.condition.unlock()
        pipeline.drain()
        lanes.wait()
        if let failure = pipeline.failure { throw failure }
        return (zip(pipeline.ids, pipeline.ranges).map { ChunkList.Item(id: $0, length: $1.count) }, start)
    }

    /// Stores cut chunks until none is left and cutting has ended (or a put failed).
    private func drain() {
        while true {
            condition.lock()
            while next >= ranges.count && cutting && failure == nil { condition.wait() }
            guard failure == nil, next < ranges.count else {
                condition.unlock()
                return
            }
            let i = next
            next += 1
            let range = ranges[i]
            condition.unlock()
            do throws(AFSError) {
                let id = try log.put(.chunk, UnsafeRawBufferPointer(rebasing: input[range]))
                condition.lock()
                ids[i] = id
                condition.unlock()
            } catch {
                condition.lock()
                if failure == nil { failure = error }
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }
}

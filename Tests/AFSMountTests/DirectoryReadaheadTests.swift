import AFSSupport
import Foundation
import Testing

@testable import AFSMount

/// The readahead's queue on its own: batches, steps that follow a walk, and opens that wait for
/// the one file they need rather than the batch that holds it.
@Suite struct DirectoryReadaheadTests {
    /// What the fetch closure saw.
    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var batches: [[String]] = []
        var cached: Set<String> = []
        var fetched: [String] { lock.withLock { batches.flatMap { $0 } } }
    }

    static func items(_ range: Range<Int>) -> [DirectoryReadahead.Item] {
        range.map { DirectoryReadahead.Item(path: "/d/f\($0)", id: "c\($0)", size: 100) }
    }

    /// Waits until `count` contents were fetched, then a little longer to see nothing more is.
    static func settle(_ recorder: Recorder, at count: Int) {
        let deadline = ContinuousClock.now + .seconds(10)
        while recorder.fetched.count < count, ContinuousClock.now < deadline { usleep(5_000) }
        usleep(100_000)
    }

    @Test func aWalkIsFetchedAStepAheadInBatches() {
        let recorder = Recorder()
        let readahead = DirectoryReadahead(
            lanes: 2, batchFiles: 4, maxFiles: 10, maxBytes: 1 << 30, cached: { id in recorder.lock.withLock { recorder.cached.contains(id) } }
        ) { items, fetched in
            recorder.lock.withLock { recorder.batches.append(items.map(\.id)) }
            for item in items { fetched(item) }
        }
        defer { readahead.stop() }
        let walk = Self.items(0..<200)
        readahead.enqueue(walk)
        Self.settle(recorder, at: 10)
        #expect(Set(recorder.fetched) == Set((0..<10).map { "c\($0)" }), "the first step only")
        #expect(recorder.batches.allSatisfy { (1...4).contains($0.count) })
        #expect(recorder.batches.count >= 3, "at most four a batch")

        // An open elsewhere in the step starts nothing; entering it (its first file) starts the
        // next, twice as large.
        readahead.noteOpen("c5")
        usleep(100_000)
        #expect(recorder.fetched.count == 10)
        readahead.noteOpen("c0")
        Self.settle(recorder, at: 30)
        #expect(Set(recorder.fetched) == Set((0..<30).map { "c\($0)" }))

        // What the walk's own opens cached meanwhile is skipped.
        recorder.lock.withLock { recorder.cached.formUnion((30..<35).map { "c\($0)" }) }
        readahead.noteOpen("c10")
        Self.settle(recorder, at: 70)
        #expect(Set(recorder.fetched) == Set(((0..<30).map { "c\($0)" }) + (35..<75).map { "c\($0)" }))
        #expect(recorder.fetched.count == 70, "each content once")
        readahead.noteOpen("c10")
        usleep(100_000)
        #expect(recorder.fetched.count == 70, "a step starts once")
    }

    @Test func anOpenWaitsForItsFileNotItsBatch() {
        let release = DispatchSemaphore(value: 0)
        let readahead = DirectoryReadahead(lanes: 1, batchFiles: 8, maxFiles: 8, cached: { _ in false }) { items, fetched in
            fetched(items[0])
            // The rest of the batch is slow to arrive.
            release.wait()
            for item in items.dropFirst() { fetched(item) }
        }
        defer { readahead.stop() }
        readahead.enqueue(Self.items(0..<8))
        usleep(50_000)
        let start = ContinuousClock.now
        readahead.waitIfFetching("c0", limit: .seconds(5))
        #expect(ContinuousClock.now - start < .seconds(2), "the first file arrived; its open goes on")
        let finished = DispatchSemaphore(value: 0)
        Thread {
            readahead.waitIfFetching("c7", limit: .seconds(5))
            finished.signal()
        }.start()
        #expect(finished.wait(timeout: .now() + .milliseconds(100)) == .timedOut, "the last file is still on its way")
        release.signal()
        #expect(finished.wait(timeout: .now() + .seconds(5)) == .success, "and arrives with the rest")
    }
}

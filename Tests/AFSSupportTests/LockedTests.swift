import AFSSupport
import Dispatch
import Testing

/// The lock every module uses: updates from many threads are all kept, each body sees the value
/// the previous one left, and errors and results pass through.
@Suite struct LockedTests {
    @Test func concurrentUpdatesAreAllKept() {
        let counts = Locked<[Int: Int]>([:])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in 0..<5_000 { counts.withLock { $0[i % 10, default: 0] += worker + 1 } }
        }
        // Each key got 500 updates from each worker, worth worker + 1: 500 * (1 + … + 8).
        #expect(counts.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<10).map { ($0, 500 * 36) }))
    }

    struct Refused: Error, Equatable {}

    @Test func resultsAndErrorsPassThrough() throws {
        let value = Locked(1)
        #expect(value.withLock { v -> Int in v += 1; return v * 10 } == 20)
        #expect(throws: Refused.self) { try value.withLock { (_: inout Int) throws(Refused) in throw Refused() } }
        #expect(value.withLock { $0 } == 2, "a throwing body leaves what it changed before throwing")
    }
}

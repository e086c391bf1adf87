import AFSSupport
import AFSCore
import AFSClient
import AFSTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

@Suite(.offCooperativePool) struct BlockingTests {
    /// Four jobs that each block until all four have started: on a pool as wide as the machine
    /// (two cores here) they would wait for each other forever; `Blocking.executor` must give
    /// each a thread.
    @Test func blockingJobsEachGetAThread() throws {
        let jobs = 4
        let started = Locked(0)
        let allStarted = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        for _ in 0..<jobs {
            finished.enter()
            Thread.detachNewThread {
                defer { finished.leave() }
                _ = try? Blocking.run {
                    let n = started.withLock { $0 += 1; return $0 }
                    if n == jobs { for _ in 0..<jobs { allStarted.signal() } }
                    // Block this thread, as synchronous code inside async work does.
                    return allStarted.wait(timeout: .now() + 30) == .success
                }
            }
        }
        #expect(finished.wait(timeout: .now() + 60) == .success)
        #expect(started.withLock { $0 } == jobs)
    }

    /// A test under `.offCooperativePool` runs on an overcommit thread, one that libdispatch
    /// replaces when it blocks, not on one of the cooperative pool's few threads.
    @Test func testsRunOffTheCooperativePool() throws {
        // The kernel's copy of this thread's name (15 characters: "…default-qos.overcommit").
        let thread = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(thread.hasSuffix("overcommit"), "test runs on \(thread)")
    }
}

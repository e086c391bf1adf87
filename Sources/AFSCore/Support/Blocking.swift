import Dispatch
import Synchronization

/// Runs async work to completion from synchronous code, on threads of its own.
///
/// The work runs with a task-executor preference for ``executor``, never on the cooperative
/// pool: a caller that blocks a pool thread (a synchronous test, a synchronous API used from a
/// task) cannot starve the work it waits for. With two cores the pool has two threads, so that
/// starvation is not hypothetical.
public enum Blocking {
    /// Runs each job on a serial dispatch queue of its own. Serial queues drain on libdispatch's
    /// *overcommit* threads, which grow when the ones there are blocked; a concurrent queue would
    /// share the non-overcommit root queue, which on Linux is the cooperative pool itself (as
    /// wide as the machine has cores), and blocking callers would starve it again.
    public final class QueueExecutor: TaskExecutor {
        public func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let executor = asUnownedTaskExecutor()
            DispatchQueue(label: "afs.blocking").async { job.runSynchronously(on: executor) }
        }
    }

    /// Threads that may block: work that must make progress while synchronous callers wait
    /// (``run(_:)``, and tests that block their own thread) prefers this executor.
    public static let executor = QueueExecutor()

    /// Waits for `body` and returns its result or rethrows its error.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: executor) {
            let r: Result<T, any Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            result.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}

import AFSSupport
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
        /// Runs `job` on a new serial dispatch queue, with this executor as its task executor.
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
        guard let result = try run(timeout: nil, body) else { preconditionFailure("no result without a timeout") }
        return result
    }

    /// Waits at most `timeout` for `body`: nil when it has not finished by then. The work is not
    /// stopped (it may not stop on cancellation: a query already sent, say) and its outcome is
    /// dropped, so a caller that gets nil must treat the effect as unknown.
    public static func run<T: Sendable>(timeout: Duration?, _ body: @escaping @Sendable () async throws -> T) throws -> T? {
        let result = Locked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task(executorPreference: executor) {
            let r: Result<T, any Error>
            do { r = .success(try await body()) } catch { r = .failure(error) }
            result.withLock { $0 = r }
            done.signal()
        }
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            if done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut {
                task.cancel()
                return nil
            }
        } else {
            done.wait()
        }
        return try result.withLock { $0! }.get()
    }
}

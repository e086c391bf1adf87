import Dispatch
import Synchronization

/// Runs async work to completion from synchronous code, on threads of its own.
///
/// The work runs with a task-executor preference for a private dispatch queue, never on the
/// cooperative pool: a caller that blocks a pool thread (a synchronous test, a synchronous API
/// used from a task) cannot starve the work it waits for. With two cores the pool has two
/// threads, so that starvation is not hypothetical.
public enum Blocking {
    final class QueueExecutor: TaskExecutor {
        let queue = DispatchQueue(label: "afs.blocking", attributes: .concurrent)

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let executor = asUnownedTaskExecutor()
            queue.async { job.runSynchronously(on: executor) }
        }
    }

    static let executor = QueueExecutor()

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

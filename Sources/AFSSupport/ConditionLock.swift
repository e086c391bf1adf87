import Glibc

/// A mutex with several condition variables: for a queue whose threads wait for different
/// things, so each change wakes only the threads it concerns.
///
/// `NSCondition` has one condition variable, so a queue built on it must `broadcast` every change
/// to every waiter: a mount's eight write-back workers woke for each file `tar -x` closed, 32,000
/// context switches for 1,069 entries (Docs/perf/profiles.md). With one condition for "work is
/// ready" and another for "work finished", a new change wakes one idle worker and a finished one
/// wakes only the threads waiting for progress.
///
/// Conditions are numbered from 0 to `count - 1`. Waits may wake spuriously: callers re-check
/// their predicate in a loop, as with any condition variable.
public final class ConditionLock: @unchecked Sendable {
    // @unchecked: the mutex and the condition variables are glibc's, safe across threads; the
    // pointers themselves never change.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    /// How many condition variables it has.
    public let count: Int

    public init(conditions count: Int) {
        precondition(count > 0, "a ConditionLock needs at least one condition")
        self.count = count
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        conditions = .allocate(capacity: count)
        // Timed waits measure the monotonic clock: a wall clock stepped back would stretch them.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        for i in 0..<count { pthread_cond_init(conditions + i, &attributes) }
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        for i in 0..<count { pthread_cond_destroy(conditions + i) }
        conditions.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }

    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Releases the lock, sleeps until `condition` is signalled (or spuriously), and takes the
    /// lock again. The caller holds the lock.
    public func wait(_ condition: Int) {
        precondition(condition >= 0 && condition < count, "no condition \(condition)")
        pthread_cond_wait(conditions + condition, mutex)
    }

    /// ``wait(_:)``, but for no longer than `timeout`; returns false when the time ran out.
    @discardableResult
    public func wait(_ condition: Int, timeout: Duration) -> Bool {
        precondition(condition >= 0 && condition < count, "no condition \(condition)")
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = max(timeout, .zero).components
        let nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var deadline = timespec(tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        return pthread_cond_timedwait(conditions + condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes one thread waiting on `condition`, if any.
    public func signal(_ condition: Int) {
        precondition(condition >= 0 && condition < count, "no condition \(condition)")
        pthread_cond_signal(conditions + condition)
    }

    /// Wakes every thread waiting on `condition`.
    public func broadcast(_ condition: Int) {
        precondition(condition >= 0 && condition < count, "no condition \(condition)")
        pthread_cond_broadcast(conditions + condition)
    }

    /// Runs `body` holding the lock.
    public func withLock<Result, E: Error>(_ body: () throws(E) -> Result) throws(E) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}

import Glibc

/// A value behind a glibc `pthread_mutex_t`: for the few locks that every request of a busy
/// daemon takes, where ``Locked`` costs too much under contention.
///
/// In Swift 6.3, `Synchronization.Mutex` (what ``Locked`` is) locks Linux priority-inheritance
/// futexes (swiftlang/swift#88440, fixed after 6.3): under contention each hand-off goes through
/// the kernel after a spin. Sixteen mount workers on two cores spent 45 % of the daemon's CPU in
/// `Mutex._lockSlow` on the node table during a first `git status` (Docs/perf/profiles.md). A
/// glibc mutex sleeps on a plain futex and lets the releasing thread take it again at once.
///
/// That is also its cost: it is unfair. A thread that releases and re-takes it in a loop can
/// starve the others (made the project-wide lock, it stalled afs-server requests for over a
/// minute under the test suite's load). Use it only for short critical sections taken once per
/// request by many threads; everything else takes ``Locked``. ThreadSanitizer sees it (glibc's
/// mutex is intercepted).
public final class UnfairLocked<Value>: @unchecked Sendable {
    // @unchecked: the value is read and written only inside `withLock`, under the lock.
    // Behind a pointer, as Locked's TSan variant, so TSan sees the value's own loads and stores.
    @usableFromInline let value: UnsafeMutablePointer<Value>
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ initialValue: sending Value) {
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value, holding the lock; never call back into the same lock from it.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}

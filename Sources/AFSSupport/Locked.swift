import Glibc

/// A value that is only reached while holding its lock: the one lock type of the project.
///
/// It is a glibc `pthread_mutex_t` (a plain futex: a waiter sleeps until the holder wakes it),
/// not `Synchronization.Mutex`, for two reasons measured here:
/// - In Swift 6.3 the standard library's `Mutex` locks Linux priority-inheritance futexes
///   (`FUTEX_LOCK_PI`), which hand a contended lock from thread to thread through the kernel and
///   spin in user space before each attempt (swiftlang/swift#88440, fixed after 6.3). Sixteen mount
///   workers on two cores spent 45 % of the daemon's CPU in `Mutex._lockSlow` during a first
///   `git status` (`perf record`, Docs/perf/profiles.md).
/// - Its futexes live inside the prebuilt, uninstrumented runtime, so ThreadSanitizer cannot see
///   them and reports every access they protect as a race; glibc's mutex is intercepted.
///
/// The value lives behind a pointer: an `inout` access to a stored property is checked for
/// exclusivity, which TSan reports by the property's address, and a value of no size
/// (`Locked<Void>`, a plain lock) has the object's address, which every caller reads (the class's
/// metadata) before it takes the lock: a false race. Through the pointer, TSan sees the value's
/// real loads and stores, all under the mutex.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: the value is read and written only inside `withLock`, under the lock.
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

import Synchronization

#if AFS_TSAN
import Glibc
#endif

/// A value that is only reached while holding its lock: the one lock type of the project.
///
/// It is `Synchronization.Mutex`, with one difference that matters to the race checker: on
/// Linux the standard library's `Mutex` locks with futexes inside the prebuilt, uninstrumented
/// runtime, so ThreadSanitizer cannot see it, and every access it protects is reported as a race
/// (ten lines reproduce it). Built for ThreadSanitizer (`scripts/tsan.sh` defines `AFS_TSAN`),
/// the same type locks a pthread mutex instead, which TSan intercepts; every other build keeps the
/// standard `Mutex`. Both variants run the body with the value `inout`, under the lock, and
/// nothing else touches it.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: the value is read and written only inside `withLock`, under the lock.
    #if AFS_TSAN
    // The value lives behind a pointer: an `inout` access to a stored property is checked for
    // exclusivity, which TSan reports by the property's address, and a value of no size
    // (`Locked<Void>`, a plain lock) has the object's address, which every caller reads (the
    // class's metadata) before it takes the lock: a false race. Through the pointer, TSan sees
    // the value's real loads and stores, all under the mutex.
    @usableFromInline let value: UnsafeMutablePointer<Value>
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    #else
    @usableFromInline let mutex: Mutex<Value>
    #endif

    public init(_ initialValue: sending Value) {
        #if AFS_TSAN
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        #else
        mutex = Mutex(initialValue)
        #endif
    }

    #if AFS_TSAN
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }
    #endif

    /// Runs `body` with the value, holding the lock; never call back into the same lock from it.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        #if AFS_TSAN
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
        #else
        return try mutex.withLock(body)
        #endif
    }
}

import Synchronization

/// A value that is only reached while holding its lock: the project's lock type (the one
/// exception, for a daemon's hottest locks, is ``UnfairLocked``).
///
/// It is `Synchronization.Mutex`, with one difference that matters to the race checker: on
/// Linux the standard library's `Mutex` locks with futexes inside the prebuilt, uninstrumented
/// runtime, so ThreadSanitizer cannot see it, and every access it protects is reported as a race
/// (ten lines reproduce it). Built for ThreadSanitizer (`scripts/tsan.sh` defines `AFS_TSAN`),
/// the same type locks a pthread mutex instead (``UnfairLocked``, which TSan intercepts); every
/// other build keeps the standard `Mutex`, which is fair. Both variants run the body with the
/// value `inout`, under the lock, and nothing else touches it.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: the value is read and written only inside `withLock`, under the lock.
    #if AFS_TSAN
    @usableFromInline let lock: UnfairLocked<Value>
    #else
    @usableFromInline let mutex: Mutex<Value>
    #endif

    public init(_ initialValue: sending Value) {
        #if AFS_TSAN
        lock = UnfairLocked(initialValue)
        #else
        mutex = Mutex(initialValue)
        #endif
    }

    /// Runs `body` with the value, holding the lock; never call back into the same lock from it.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        #if AFS_TSAN
        return try lock.withLock(body)
        #else
        return try mutex.withLock(body)
        #endif
    }
}

import AFSSupport
import Foundation
import Synchronization

/// A clock a test moves by hand, for code that takes its time from an injected closure (lease
/// expiry, metadata caches, rate limits): the test says when time passes instead of sleeping.
/// The monotonic instant and the wall-clock seconds move together.
public final class ManualClock: Sendable {
    private let offset = Locked<Duration>(.zero)
    private let baseInstant = ContinuousClock.now
    private let baseWall: Double

    /// A clock whose wall reading starts at `wall` (seconds since 1970; default: now).
    public init(wall: Double = Date().timeIntervalSince1970) {
        baseWall = wall
    }

    /// Moves both readings forward by `duration`.
    public func advance(by duration: Duration) {
        offset.withLock { $0 += duration }
    }

    /// Moves both readings forward by `seconds`.
    public func advance(_ seconds: Double) {
        advance(by: .nanoseconds(Int64(seconds * 1e9)))
    }

    /// The wall reading as a date.
    public func now() -> Date { Date(timeIntervalSince1970: wall) }

    /// The monotonic reading (for `ContinuousClock.Instant` users).
    public var instant: ContinuousClock.Instant { baseInstant + offset.withLock { $0 } }

    /// The wall-clock reading, in seconds since 1970.
    public var wall: Double {
        let d = offset.withLock { $0 }
        return baseWall + Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

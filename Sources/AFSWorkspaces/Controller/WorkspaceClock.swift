import Foundation
import Synchronization

/// The controller's notion of now, injected so tests can move time instead of waiting for it.
public protocol WorkspaceClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: WorkspaceClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that moves only when told to (tests of deadlines and idle stops).
public final class ManualClock: WorkspaceClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(_ seconds: Double) { current.withLock { $0 += seconds } }
}

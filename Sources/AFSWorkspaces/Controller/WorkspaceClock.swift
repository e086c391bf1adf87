import Foundation

/// The controller's notion of now, injected so tests can move time instead of waiting for it.
public protocol WorkspaceClock: Sendable {
    func now() -> Date
}

/// Wall-clock time.
public struct SystemClock: WorkspaceClock {
    public init() {}
    public func now() -> Date { Date() }
}

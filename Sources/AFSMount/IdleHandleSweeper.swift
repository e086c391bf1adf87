import AFSSupport
import Foundation

/// Calls a sweep every ``interval`` on a thread of its own, from ``start(_:)`` (once, however many
/// times it is called) until ``stop()`` or until the sweep returns false (its owner is gone).
///
/// Once the kernel stops sending `flush` (``SessionFilesystem/closesUnseen``) nothing tells the
/// mount that a program closed a file the kernel opened: the sweep ends implicit handles no
/// request has used for ``SessionFilesystem/implicitIdle``, which publishes what they hold and
/// closes their descriptors, as the close would have.
final class IdleHandleSweeper: @unchecked Sendable {
    let interval: Duration
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var started = false
    private var stopped = false

    init(interval: Duration) {
        self.interval = interval
    }

    /// Starts the thread running `sweep` unless it runs or ran.
    func start(_ sweep: @escaping @Sendable (ContinuousClock.Instant) -> Bool) {
        condition.lock()
        defer { condition.unlock() }
        guard !started, !stopped else { return }
        started = true
        let thread = Thread { [self] in run(sweep) }
        thread.name = "aether-idle-handles"
        thread.start()
    }

    /// Stops the thread (after the sweep under way, if any); no sweep starts after this returns.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run(_ sweep: @Sendable (ContinuousClock.Instant) -> Bool) {
        while true {
            condition.lock()
            let wake = Date(timeIntervalSinceNow: interval.inSeconds)
            while !stopped, condition.wait(until: wake) {}
            let done = stopped
            condition.unlock()
            if done || !sweep(.now) { return }
        }
    }
}

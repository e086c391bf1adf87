import AFSSupport
import Foundation

/// Runs a sweep on a thread of its own from ``start(_:)`` (once, however many times it is called)
/// until ``stop()`` or until the sweep answers that its owner is gone; between sweeps it sleeps
/// as long as the sweep says, or, when the sweep found nothing to wait for, until ``poke()``.
///
/// Once the kernel stops sending `flush` (``SessionFilesystem/closesUnseen``) nothing tells the
/// mount that a program closed a file the kernel opened: the sweep ends implicit handles that
/// went unused long enough, which publishes what they hold and closes their descriptors, as the
/// close would have. An idle mount holds no implicit handle, and then the thread sleeps.
final class IdleHandleSweeper: @unchecked Sendable {
    /// What a sweep asks for next.
    enum Next {
        /// Sweep again after this long (at the earliest a handle may be due).
        case after(Duration)
        /// Nothing is pending: sleep until poked.
        case idle
        /// The owner is gone: the thread ends.
        case stop
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var started = false
    private var stopped = false
    private var sleepsIdle = false
    private var poked = false

    /// Starts the thread running `sweep` unless it runs or ran.
    func start(_ sweep: @escaping @Sendable (ContinuousClock.Instant) -> Next) {
        condition.lock()
        defer { condition.unlock() }
        guard !started, !stopped else { return }
        started = true
        let thread = Thread { [self] in run(sweep) }
        thread.name = "aether-idle-handles"
        thread.start()
    }

    /// Something may be due later (an implicit handle was made): wakes the thread if it sleeps
    /// with nothing pending. Cheap when it does not.
    func poke() {
        condition.lock()
        defer { condition.unlock() }
        // Noted even while a sweep runs: one that found nothing then sweeps again at once.
        poked = true
        if sleepsIdle { condition.broadcast() }
    }

    /// Stops the thread (after the sweep under way, if any); no sweep starts after this returns.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run(_ sweep: @Sendable (ContinuousClock.Instant) -> Next) {
        var next = sweep(.now)
        while true {
            condition.lock()
            switch next {
            case .after(let delay):
                let wake = Date(timeIntervalSinceNow: delay.inSeconds)
                while !stopped, condition.wait(until: wake) {}
                poked = false
            case .idle:
                sleepsIdle = true
                while !stopped, !poked { condition.wait() }
                sleepsIdle = false
                poked = false
            case .stop:
                stopped = true
            }
            let done = stopped
            condition.unlock()
            if done { return }
            next = sweep(.now)
        }
    }
}

import Foundation

/// Wakes threads waiting for new changefeed events or bus messages. Waiters re-query the catalog
/// after every wake-up, so a spurious or shared wake-up costs one query, never a missed event.
final class ChangeNotifier: @unchecked Sendable {
    // @unchecked: `generation` is guarded by `condition`.
    private let condition = NSCondition()
    private var generation: UInt64 = 0
    /// Async waiters (server handlers): resumed on the next notify, or by their timeout.
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0

    var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    func notify() {
        condition.lock()
        generation &+= 1
        condition.broadcast()
        let resumed = waiters
        waiters.removeAll()
        condition.unlock()
        for w in resumed.values { w.resume() }
    }

    /// Suspends (without holding a thread) until the generation moves past `seen` or `timeout` passes.
    func waitAsync(after seen: UInt64, timeout: Double) async {
        let key = reserveKey()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            guard register(key, c, seen: seen) else {
                c.resume()
                return
            }
            Task.detached { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int(timeout * 1000)))
                self?.resumeWaiter(key)
            }
        }
    }

    private func reserveKey() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextWaiter &+= 1
        return nextWaiter
    }

    /// Parks the continuation unless the generation already moved (then the caller resumes it).
    private func register(_ key: UInt64, _ c: CheckedContinuation<Void, Never>, seen: UInt64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if generation != seen { return false }
        waiters[key] = c
        return true
    }

    private func resumeWaiter(_ key: UInt64) {
        condition.lock()
        let w = waiters.removeValue(forKey: key)
        condition.unlock()
        w?.resume()
    }

    /// Waits until the generation moves past `seen` or the deadline passes; returns whether it moved.
    @discardableResult
    func wait(after seen: UInt64, until deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while generation == seen {
            if !condition.wait(until: deadline) { return generation != seen }
        }
        return true
    }
}

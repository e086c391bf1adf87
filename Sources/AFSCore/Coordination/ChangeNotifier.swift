import Foundation

/// Wakes threads waiting for new changefeed events or bus messages. Waiters re-query the catalog
/// after every wake-up, so a spurious or shared wake-up costs one query, never a missed event.
final class ChangeNotifier: @unchecked Sendable {
    // @unchecked: `generation` is guarded by `condition`.
    private let condition = NSCondition()
    private var generation: UInt64 = 0

    var current: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    func notify() {
        condition.lock()
        generation &+= 1
        condition.broadcast()
        condition.unlock()
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

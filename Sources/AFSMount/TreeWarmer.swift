import AFSSupport
import Foundation

/// Fills the metadata cache for a whole subtree in one service call, the first time a lookup or a
/// readdir finds a directory's listing missing.
///
/// The first `git status` on a fresh mount lstat()s every tracked file, a lookup per path the
/// kernel has not seen: with a listing per directory, that was one service call per directory
/// (about 2,400 on a 20,000-file checkout) before the first answer. One recursive listing
/// (``AetherService/listTree(_:path:limit:)``) answers them all.
///
/// It warms, it does not refresh: once a subtree was read whole, a listing dropped later by a
/// change is read again on its own (a change at the root must not cost the whole tree again)
/// until `window` has passed. Subtrees larger than `limit` entries are refused by the service
/// after a bounded walk and remembered, so their directories are listed one at a time (or warmed
/// from a smaller subtree below). Concurrent misses inside a subtree being read wait for it
/// instead of asking the service for the same names (git lstat()s from many threads).
final class TreeWarmer: @unchecked Sendable {
    /// The most entries one recursive listing may bring (a bound on the mount's memory and on
    /// the time the first lookup waits).
    let limit: Int
    /// How long a read subtree counts as warm: the cache's lifetime for entries while the
    /// changefeed is followed.
    let window: Duration
    let now: @Sendable () -> ContinuousClock.Instant

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var warmed: [String: ContinuousClock.Instant] = [:]
    private var refused: [String: ContinuousClock.Instant] = [:]
    private var reading: Set<String> = []
    private var epoch: UInt64 = 0

    init(limit: Int, window: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.limit = limit
        self.window = window
        self.now = now
    }

    /// Reads the subtree at `directory` with `read` (which stores what it got and says whether it
    /// did) unless it, or a subtree holding it, was read within the window or refused as too
    /// large; waits instead while such a read is under way. Returns once the caller may look in
    /// the cache again (it may still miss: then it lists the one directory).
    ///
    /// `epoch` is the cache's count of times it forgot everything (``MetadataCache/epoch``):
    /// after a restore, an undo or a gap in the changefeed every subtree is cold again.
    func warm(_ directory: String, epoch: UInt64, read: (String) -> Bool) {
        condition.lock()
        if epoch != self.epoch {
            self.epoch = epoch
            warmed.removeAll()
            refused.removeAll()
        }
        if reading.contains(where: { MountPath.isWithin(directory, $0) }) {
            while reading.contains(where: { MountPath.isWithin(directory, $0) }) { condition.wait() }
            condition.unlock()
            return
        }
        let instant = now()
        if let at = refused[directory], instant - at < window {
            condition.unlock()
            return
        }
        if isWarm(directory, at: instant) {
            condition.unlock()
            return
        }
        reading.insert(directory)
        condition.unlock()
        let ok = read(directory)
        condition.lock()
        reading.remove(directory)
        let done = now()
        if ok { warmed[directory] = done } else { refused[directory] = done }
        // Old marks go, so the tables stay as small as the set of subtrees in use.
        if warmed.count + refused.count > 1024 {
            warmed = warmed.filter { done - $0.value < window }
            refused = refused.filter { done - $0.value < window }
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Whether `directory` or a directory holding it was read within the window (caller holds the lock).
    private func isWarm(_ directory: String, at instant: ContinuousClock.Instant) -> Bool {
        var current = directory
        while true {
            if let at = warmed[current], instant - at < window { return true }
            if current == "/" { return false }
            current = MountPath.parent(of: current)
        }
    }
}

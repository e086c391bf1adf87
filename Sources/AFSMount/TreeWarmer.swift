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
/// until `window` has passed. Concurrent misses inside a subtree being read wait for it instead
/// of asking the service for the same names (git lstat()s from many threads).
///
/// A subtree of more than `limit` entries is refused by the service after a bounded walk and
/// remembered; the reader then lists its directory alone and names its subdirectories, whose
/// subtrees ``lanes`` background threads read in name order, the order of a walk (git's index is
/// sorted by path). A lookup waits only for the subtree that holds it, not for the whole tree:
/// on a 20k-file checkout the first `git status` lstat()s its way through the first packages
/// while the later ones are still on their way, where one 24k-entry listing (6 MB of JSON over
/// HTTP) held every lookup for half a second. A subtree a lookup needs before its lane gets to
/// it is read by the lookup itself (the lane then finds it warm).
final class TreeWarmer: @unchecked Sendable {
    /// What reading a subtree came to.
    enum Outcome {
        /// Read whole into the cache.
        case read
        /// Larger than ``limit``: its directory was listed alone and has these subdirectories.
        case split([String])
        /// Not read (the service failed, or the directory is gone).
        case failed
    }

    /// The most entries one recursive listing may bring (a bound on the mount's memory and on
    /// the time the first lookup waits).
    let limit: Int
    /// Background threads reading the subtrees of a split directory.
    let lanes: Int
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
    /// Subtrees of split directories waiting for a lane, in walk order, with the reader and
    /// the cache epoch they were split under.
    private var queue: [(directory: String, epoch: UInt64, read: @Sendable (String) -> Outcome)] = []
    private var running = 0
    private var stopped = false

    init(limit: Int, window: Duration, lanes: Int = 2, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.limit = limit
        self.lanes = lanes
        self.window = window
        self.now = now
    }

    /// Reads the subtree at `directory` with `read` (which stores what it got and says what it
    /// came to: a split queues the subdirectories for the lanes) unless it, or a subtree holding
    /// it, was read within the window or refused as too large; waits instead while such a read is
    /// under way. Returns once the caller may look in
    /// the cache again (it may still miss: then it lists the one directory).
    ///
    /// `epoch` is the cache's count of times it forgot everything (``MetadataCache/epoch``):
    /// after a restore, an undo or a gap in the changefeed every subtree is cold again.
    func warm(_ directory: String, epoch: UInt64, read: @escaping @Sendable (String) -> Outcome) {
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
        let outcome = read(directory)
        condition.lock()
        reading.remove(directory)
        let done = now()
        switch outcome {
        case .read: warmed[directory] = done
        case .failed: refused[directory] = done
        case .split(let subdirectories):
            refused[directory] = done
            if !stopped, epoch == self.epoch {
                // Ahead of what is queued already: the walk is here now.
                queue.insert(contentsOf: subdirectories.sorted().map { ($0, epoch, read) }, at: 0)
                while running < lanes, running < queue.count {
                    running += 1
                    let thread = Thread { [self] in drain() }
                    thread.name = "aether-tree-warmer"
                    thread.start()
                }
            }
        }
        // Old marks go, so the tables stay as small as the set of subtrees in use.
        if warmed.count + refused.count > 1024 {
            warmed = warmed.filter { done - $0.value < window }
            refused = refused.filter { done - $0.value < window }
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Drops the queued subtrees; lanes finish the read each has under way.
    func stop() {
        condition.lock()
        stopped = true
        queue.removeAll()
        condition.unlock()
    }

    private func drain() {
        while true {
            condition.lock()
            guard !stopped, !queue.isEmpty else {
                running -= 1
                condition.unlock()
                return
            }
            let next = queue.removeFirst()
            // Split under a cache that has since forgotten everything: the next miss starts over.
            let current = next.epoch == epoch
            condition.unlock()
            if current { warm(next.directory, epoch: next.epoch, read: next.read) }
        }
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

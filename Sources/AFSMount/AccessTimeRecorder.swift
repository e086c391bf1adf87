import AFSSupport
import AFSClient
import AFSCore
import Foundation
import Synchronization

/// Access times the mount owes the service, sent in batches.
///
/// A read must not wait for a record of itself: the first access time of a batch starts a
/// one-shot timer, and everything recorded until it fires travels in one call
/// (``AetherService/recordAccessTimes(_:_:)``: no change time, no event, no durability wait).
/// The mount shows the new time at once from its own state; an unmount sends what is left.
final class AccessTimeRecorder: Sendable {
    let service: any AetherService & Sendable
    let session: String
    /// How long access times gather before they are sent.
    let interval: Duration
    private let log: @Sendable (String) -> Void
    /// The times not sent yet, and those sent lately, still answered for a while: a metadata
    /// fetch that raced the send may have cached the service's older time, and the display must
    /// not go back to it. One lock for both, a glibc mutex (``UnfairLocked``): ``pending(_:)``
    /// is asked at every lookup, by every FUSE worker at once.
    private struct State {
        var unsent: [String: Int64] = [:]
        var sent: [String: (time: Int64, until: ContinuousClock.Instant)] = [:]
    }
    private let state = UnfairLocked(State())
    /// Whether any path may have a time to answer. ``pending(_:)`` runs in every `lookup` and
    /// `getattr`, on every FUSE worker at once; taking a lock there for a map that is nearly
    /// always empty was a third of the mount's CPU in a first `git status` of 20,000 files (the
    /// lock's slow path, Docs/perf/profiles.md §10). Set under the lock by whatever adds a time;
    /// cleared under it by the flush that leaves nothing to answer for.
    private let answering = Atomic<Bool>(false)
    /// How long a sent time keeps answering (longer than any metadata cache entry lives).
    static let sentGrace: Duration = .seconds(10)
    /// ``sentGrace``, unless a test shortens it.
    let grace: Duration
    /// Serialises sends, so an unmount's final flush finds the timer's send finished.
    private let sending = Locked<Void>(())
    /// Whether a send is scheduled.
    private let timerArmed = Atomic<Bool>(false)

    init(
        service: any AetherService & Sendable, session: String, interval: Duration = .seconds(1), grace: Duration = AccessTimeRecorder.sentGrace,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.grace = grace
        self.service = service
        self.session = session
        self.interval = interval
        self.log = log
    }

    func record(_ path: String, at time: Int64) {
        state.withLock { s in
            s.unsent[path] = max(s.unsent[path] ?? 0, time)
            answering.store(true, ordering: .releasing)
        }
        // One timer at a time: the first record after a send arms it.
        armTimer(after: interval)
    }

    /// Flushes after `delay` on a thread of its own, unless a timer is armed already.
    private func armTimer(after delay: Duration) {
        guard !timerArmed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            Thread.sleep(forTimeInterval: delay.inSeconds)
            // Disarmed first: a read recorded during the send arms the next timer.
            timerArmed.store(false, ordering: .releasing)
            flush()
        }
        thread.name = "aether-atime"
        thread.start()
    }

    /// The access time recorded for `path` and not yet sent (the service still has an older one),
    /// or sent lately (a cached copy of the service's attributes may be older).
    /// Whether ``pending(_:)`` takes the lock at all (false once nothing can answer).
    var mayAnswer: Bool { answering.load(ordering: .acquiring) }

    func pending(_ path: String) -> Int64? {
        guard answering.load(ordering: .acquiring) else { return nil }
        return state.withLock { s -> Int64? in
            let unsent = s.unsent[path]
            let recent = s.sent[path].flatMap { $0.until > .now ? $0.time : nil }
            switch (unsent, recent) {
            case let (a?, b?): return max(a, b)
            case let (a, b): return a ?? b
            }
        }
    }

    /// A path renamed or removed through the mount: its pending time follows it, or goes.
    func moved(_ from: String, to: String?) {
        state.withLock { s in
            if let time = s.unsent.removeValue(forKey: from), let to { s.unsent[to] = time }
            if let entry = s.sent.removeValue(forKey: from), let to { s.sent[to] = entry }
        }
    }

    /// An access time set explicitly (`touch -a`, `utimensat`) wins over reads before it: their
    /// pending time is dropped, after any send in flight has landed.
    func cancel(_ path: String) {
        sending.withLock { _ in
            state.withLock { s in
                s.unsent[path] = nil
                s.sent[path] = nil
            }
        }
    }

    /// Sends everything recorded so far; once nothing is left to answer for, ``pending(_:)``
    /// skips the locks again.
    func flush() {
        sending.withLock { _ in
            let batch = state.withLock { $0.unsent }
            var delivered = false
            if !batch.isEmpty {
                do throws(AFSError) {
                    try service.recordAccessTimes(session, batch)
                    delivered = true
                } catch {
                    // Access times are advisory: a failed batch is logged, not retried forever.
                    log("recording \(batch.count) access times failed: \(error.message)")
                }
            }
            // Sent: forget what was sent (a later read of the same path stays pending). Until
            // now the pending times answered for the service, which had older ones.
            let answers = state.withLock { s -> Bool in
                let now = ContinuousClock.now
                let until = now + grace
                s.sent = s.sent.filter { $0.value.until > now }
                for (path, time) in batch where s.unsent[path] == time {
                    s.unsent[path] = nil
                    if delivered { s.sent[path] = (time, until) }
                }
                let answers = !s.unsent.isEmpty || !s.sent.isEmpty
                if !answers { answering.store(false, ordering: .releasing) }
                return answers
            }
            // Times sent stop answering after the grace: a flush then forgets them.
            if answers { armTimer(after: grace) }
        }
    }
}

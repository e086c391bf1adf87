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
    private let pending = Locked<[String: Int64]>([:])
    /// Times sent lately, still answered for a while: a metadata fetch that raced the send may
    /// have cached the service's older time, and the display must not go back to it.
    private let sent = Locked<[String: (time: Int64, until: ContinuousClock.Instant)]>([:])
    /// How long a sent time keeps answering (longer than any metadata cache entry lives).
    static let sentGrace: Duration = .seconds(10)
    /// Serialises sends, so an unmount's final flush finds the timer's send finished.
    private let sending = Locked<Void>(())
    /// Whether a send is scheduled.
    private let timerArmed = Atomic<Bool>(false)

    init(service: any AetherService & Sendable, session: String, interval: Duration = .seconds(1), log: @escaping @Sendable (String) -> Void) {
        self.service = service
        self.session = session
        self.interval = interval
        self.log = log
    }

    func record(_ path: String, at time: Int64) {
        pending.withLock { $0[path] = max($0[path] ?? 0, time) }
        // One timer at a time: the first record after a send arms it.
        guard !timerArmed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let delay = interval.inSeconds
        let thread = Thread { [self] in
            Thread.sleep(forTimeInterval: delay)
            // Disarmed first: a read recorded during the send arms the next timer.
            timerArmed.store(false, ordering: .releasing)
            flush()
        }
        thread.name = "aether-atime"
        thread.start()
    }

    /// The access time recorded for `path` and not yet sent (the service still has an older one),
    /// or sent lately (a cached copy of the service's attributes may be older).
    func pending(_ path: String) -> Int64? {
        let unsent = pending.withLock { $0[path] }
        let recent = sent.withLock { s -> Int64? in
            guard let entry = s[path], entry.until > .now else { return nil }
            return entry.time
        }
        switch (unsent, recent) {
        case let (a?, b?): return max(a, b)
        case let (a, b): return a ?? b
        }
    }

    /// A path renamed or removed through the mount: its pending time follows it, or goes.
    func moved(_ from: String, to: String?) {
        pending.withLock { p in
            guard let time = p.removeValue(forKey: from) else { return }
            if let to { p[to] = time }
        }
        sent.withLock { s in
            guard let entry = s.removeValue(forKey: from) else { return }
            if let to { s[to] = entry }
        }
    }

    /// An access time set explicitly (`touch -a`, `utimensat`) wins over reads before it: their
    /// pending time is dropped, after any send in flight has landed.
    func cancel(_ path: String) {
        sending.withLock { _ in
            pending.withLock { _ = $0.removeValue(forKey: path) }
            sent.withLock { _ = $0.removeValue(forKey: path) }
        }
    }

    /// Sends everything recorded so far.
    func flush() {
        sending.withLock { _ in
            let batch = pending.withLock { $0 }
            guard !batch.isEmpty else { return }
            do throws(AFSError) {
                try service.recordAccessTimes(session, batch)
                let now = ContinuousClock.now
                sent.withLock { s in
                    s = s.filter { $0.value.until > now }
                    for (path, time) in batch { s[path] = (time, now + AccessTimeRecorder.sentGrace) }
                }
            } catch {
                // Access times are advisory: a failed batch is logged, not retried forever.
                log("recording \(batch.count) access times failed: \(error.message)")
            }
            // Sent: forget what was sent (a later read of the same path stays pending). Until
            // now the pending times answered for the service, which had older ones.
            pending.withLock { p in
                for (path, time) in batch where p[path] == time { p[path] = nil }
            }
        }
    }
}

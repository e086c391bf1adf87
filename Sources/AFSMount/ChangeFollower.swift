import AFSSupport
import AFSClient
import AFSCore
import Foundation
import Synchronization

/// Follows the session's changefeed and drops the cached metadata of every path it names, so
/// writes made through the API (other agents, `aether fs write`) show up in the mount as soon as
/// the event arrives rather than when the cache's TTL runs out.
///
/// Runs on a thread of its own: against afs-server each call long-polls (``pollWait``), against the
/// embedded store it polls every quarter second. Events of the mount's own writes come back too;
/// dropping those entries again costs one lookup. Each poll that answers renews the cache's
/// trust (``MetadataCache/trust(until:)``): entries then live for a minute, not a second, and an
/// open takes the content identity from the cache. When polls fail, trust lapses within a few
/// seconds and the short TTL applies again.
final class ChangeFollower: Sendable {
    let service: any AetherService & Sendable
    let session: String
    let metadata: MetadataCache
    let kernel: KernelCache
    private let log: @Sendable (String) -> Void
    /// How long one long-poll may wait. Short, because an unmount waits for the poll in flight
    /// (closing the HTTP client lets running requests finish).
    static let pollWait = 2.0
    private let stopped = Atomic<Bool>(false)
    /// Events the mount's own changes will bring back, by path: their caches were updated exactly
    /// when the change landed, so the event needs no invalidation (``expect(_:)``).
    private let expected = Locked<[String: Expected]>([:])

    private struct Expected {
        var kinds: [ChangeEvent.Kind]
        var until: ContinuousClock.Instant
    }

    /// How long an expected event is waited for: it normally arrives within a poll; one that
    /// never does (an expired cursor) must not hide another writer's event for long.
    static let expectationLifetime: Duration = .seconds(30)
    /// The last event seen, for tests and status.
    private let cursor = Atomic<UInt64>(0)

    init(
        service: any AetherService & Sendable, session: String, metadata: MetadataCache, kernel: KernelCache,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.service = service
        self.session = session
        self.metadata = metadata
        self.kernel = kernel
        self.log = log
    }

    var position: UInt64 { cursor.load(ordering: .relaxed) }

    /// Skips the history already in the feed (the mount starts from the current state), then
    /// follows on a background thread until ``stop()``.
    func start() throws(AFSError) {
        let seq = try ChangeFollower.readToEnd(service, session: session, after: 0)
        cursor.store(seq, ordering: .relaxed)
        // Read up to now, and the thread's first poll answers within pollWait: trusted from the
        // start, so the mount's first lookups (a `git status` right after mounting) already get
        // the long lifetimes and the subtree reads that need them.
        metadata.trust(until: .now + .seconds(ChangeFollower.pollWait + 1.5))
        let thread = Thread { [self] in follow() }
        thread.name = "aether-changefeed"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    /// Reads the session's changefeed after `seq` up to its current end, a page at a time, handing
    /// each page to `page`; returns the last sequence number read (`seq` if none). A cursor past the
    /// feed's retention resumes at the oldest event kept, after telling `skipped` (events were lost).
    static func readToEnd(
        _ service: any AetherService, session: String, after seq: UInt64, skipped: () -> Void = {}, page: ([ChangeEvent]) -> Void = { _ in }
    ) throws(AFSError) -> UInt64 {
        var seq = seq
        while true {
            let events: [ChangeEvent]
            do {
                events = try service.changes(session, after: seq, limit: 10_000, wait: 0)
            } catch where error.code == .expired {
                guard let floor = resumePoint(error.message), floor > seq else { throw error }
                skipped()
                seq = floor
                continue
            }
            guard let last = events.last else { return seq }
            seq = last.seq
            page(events)
        }
    }

    /// The oldest retained sequence number an `expired` error names ("resume from N").
    static func resumePoint(_ message: String) -> UInt64? {
        guard let range = message.range(of: "resume from ") else { return nil }
        return UInt64(message[range.upperBound...].prefix { $0.isNumber })
    }

    private func follow() {
        while !stopped.load(ordering: .relaxed) {
            let after = cursor.load(ordering: .relaxed)
            do {
                let events = try service.changes(session, after: after, limit: 1000, wait: ChangeFollower.pollWait)
                apply(events)
                // Read up to now, and the next poll answers within pollWait (plus the pause
                // below): until then the cache may trust what it holds.
                metadata.trust(until: .now + .seconds(ChangeFollower.pollWait + 1.5))
                if let last = events.last { cursor.store(last.seq, ordering: .relaxed) }
                if events.isEmpty { Thread.sleep(forTimeInterval: 0.25) }
            } catch where error.code == .expired {
                // Events were dropped before we read them: nothing cached can be trusted.
                metadata.invalidateAll()
                kernel.invalidateEverything()
                if let floor = ChangeFollower.resumePoint(error.message) { cursor.store(floor, ordering: .relaxed) }
            } catch {
                log("changefeed of \(session): \(error.message); retrying")
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// The mount's own change of `path`, with event `kind`, has landed and its caches (the
    /// mount's and, since the kernel made the change, the kernel's) already show it: its event
    /// will be skipped rather than drop them again. During `rm -rf` or `tar -x` an invalidation
    /// per event cost a service call per name looked up next in the directory.
    ///
    /// Should another writer change the same path at the same time, one of the two events is
    /// skipped, never both: the later one still invalidates.
    func expect(_ path: String, _ kind: ChangeEvent.Kind) {
        let until = ContinuousClock.now + ChangeFollower.expectationLifetime
        expected.withLock { table in
            if table.count > 100_000 { table.removeAll() }
            table[path, default: Expected(kinds: [], until: until)].kinds.append(kind)
            table[path]?.until = until
        }
    }

    /// Takes back an ``expect(_:_:)`` whose change did not land.
    func unexpect(_ path: String, _ kind: ChangeEvent.Kind) {
        expected.withLock { table in
            guard var entry = table[path], let i = entry.kinds.firstIndex(of: kind) else { return }
            entry.kinds.remove(at: i)
            table[path] = entry.kinds.isEmpty ? nil : entry
        }
    }

    /// Whether `event` is one ``expect(_:_:)`` announced (consumed if so).
    private func isExpected(_ event: ChangeEvent) -> Bool {
        let now = ContinuousClock.now
        return expected.withLock { table in
            guard var entry = table[event.path] else { return false }
            guard entry.until > now else {
                table[event.path] = nil
                return false
            }
            guard let i = entry.kinds.firstIndex(of: event.kind) else { return false }
            entry.kinds.remove(at: i)
            table[event.path] = entry.kinds.isEmpty ? nil : entry
            return true
        }
    }

    /// Drops what `events` make stale: the mount's metadata, then the kernel's names,
    /// attributes, pages and listings of each path named.
    func apply(_ events: [ChangeEvent]) {
        for event in events {
            if isExpected(event) { continue }
            switch TreeChange(event) {
            case .paths(let changed):
                for change in changed {
                    if change.subtree { metadata.invalidateTree(change.path) } else { metadata.invalidate(change.path) }
                    kernel.invalidateEntry(change.path, subtree: change.subtree)
                }
            case .none:
                break
            case .everything:
                metadata.invalidateAll()
                kernel.invalidateEverything()
                expected.withLock { $0.removeAll() }
            }
        }
    }
}

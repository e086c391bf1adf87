import AFSSupport
import Foundation

extension AetherStore {
    /// Wakes the changefeed and bus readers waiting in this process: another process sharing
    /// the catalog recorded events or messages (a replica's `LISTEN`), so long polls and streams
    /// here see writes made through any replica.
    public func changesRecordedElsewhere() {
        notifier.notify()
    }

    /// Checks that a session exists, for calls on coordination state only (changefeed, bus,
    /// leases, annotations, reviews), which live in the shared catalog: when processes share it,
    /// any of them serves these calls without taking the session from its owner.
    func requireSession(_ id: String) throws(AFSError) {
        guard ownership != nil else {
            _ = try liveSession(id)
            return
        }
        if live.withLock({ $0[id] != nil }) { return }
        guard try catalog.session(id) != nil else { throw AFSError.notFound("session \(id) does not exist") }
    }

    // MARK: Changefeed

    /// Events of a session after `seq`, oldest first. A cursor older than retention is an error
    /// (`expired`), never a silent gap.
    public func changes(_ session: String, after seq: UInt64 = 0, limit: Int = 1000) throws(AFSError) -> [ChangeEvent] {
        try requireSession(session)
        let floor = try coordination.eventFloor(session: session)
        if seq < floor {
            throw AFSError(
                .expired,
                "events up to \(floor) of session \(session) are past retention; resume from \(floor) or later (a full resync is needed)")
        }
        return try coordination.events(session: session, after: seq, limit: max(1, min(limit, 10_000)))
    }

    /// Long poll: returns as soon as there are events after `seq`, or an empty list at the timeout.
    public func waitForChanges(_ session: String, after seq: UInt64, limit: Int = 1000, timeout: Double) throws(AFSError) -> [ChangeEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let seen = notifier.current
            let found = try changes(session, after: seq, limit: limit)
            if !found.isEmpty || Date() >= deadline { return found }
            notifier.wait(after: seen, until: deadline)
        }
    }

    /// Long poll for async callers: suspends without holding a thread while there is nothing new.
    public func nextChanges(_ session: String, after seq: UInt64, limit: Int = 1000, timeout: Double) async throws -> [ChangeEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let seen = notifier.current
            let found = try changes(session, after: seq, limit: limit)
            let left = deadline.timeIntervalSinceNow
            if !found.isEmpty || left <= 0 { return found }
            await notifier.waitAsync(after: seen, timeout: left)
        }
    }

    /// Long poll on a bus topic for async callers.
    public func nextMessages(_ session: String, topic: String, from offset: UInt64, limit: Int = 1000, timeout: Double) async throws -> [BusMessage] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let seen = notifier.current
            let found = try messages(session, topic: topic, from: offset, limit: limit)
            let left = deadline.timeIntervalSinceNow
            if !found.isEmpty || left <= 0 { return found }
            await notifier.waitAsync(after: seen, timeout: left)
        }
    }

    /// The changefeed as an async sequence, from `seq` on; it ends only when the task is cancelled
    /// (or with an error, e.g. `expired`). Resuming after a disconnect: pass the last seq seen.
    public func changeStream(_ session: String, after seq: UInt64 = 0) -> AsyncThrowingStream<ChangeEvent, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = OnceFlag()
            continuation.onTermination = { _ in cancelled.raise() }
            Thread.detachNewThread {
                var cursor = seq
                do {
                    while !cancelled.isRaised {
                        for e in try self.waitForChanges(session, after: cursor, timeout: 0.5) {
                            continuation.yield(e)
                            cursor = e.seq
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
        }
    }

    // MARK: Message bus

    static func validateTopic(_ topic: String) throws(AFSError) {
        guard !topic.isEmpty, topic.utf8.count <= 200, !topic.utf8.contains(where: { $0 < 0x21 }) else {
            throw AFSError.invalidArgument("a topic must be 1…200 visible characters")
        }
    }

    /// Publishes a JSON payload on a session topic; returns the message with its offset.
    public func publish(_ session: String, topic: String, payload: String, sender: String) throws(AFSError) -> BusMessage {
        try AetherStore.validateTopic(topic)
        guard payload.utf8.count <= 1 << 20 else { throw AFSError.invalidArgument("a message payload is limited to 1 MiB") }
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw AFSError.invalidArgument("the payload is not valid JSON")
        }
        try requireSession(session)
        let m = try coordination.publish(
            session: session, topic: topic, sender: sender, payload: payload, time: AetherStore.now(), retain: options.busRetention)
        notifier.notify()
        return m
    }

    /// Messages from `offset` (inclusive), oldest first.
    public func messages(_ session: String, topic: String, from offset: UInt64 = 1, limit: Int = 1000) throws(AFSError) -> [BusMessage] {
        try AetherStore.validateTopic(topic)
        try requireSession(session)
        return try coordination.messages(session: session, topic: topic, from: offset, limit: max(1, min(limit, 10_000)))
    }

    /// Blocking long poll on a bus topic: returns as soon as there are messages from `offset`, or an
    /// empty list after `timeout` seconds. Holds the calling thread; async callers use `nextMessages`.
    public func waitForMessages(_ session: String, topic: String, from offset: UInt64, limit: Int = 1000, timeout: Double) throws(AFSError) -> [BusMessage] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let seen = notifier.current
            let found = try messages(session, topic: topic, from: offset, limit: limit)
            if !found.isEmpty || Date() >= deadline { return found }
            notifier.wait(after: seen, until: deadline)
        }
    }

    /// Topics of the session that hold messages, sorted by name; `notFound` for an unknown session.
    public func topics(_ session: String) throws(AFSError) -> [String] {
        try requireSession(session)
        return try coordination.topics(session: session)
    }

    // MARK: Leases

    /// Grants a lease on a path (and, with `prefix`, everything below it). Conflicting live leases
    /// refuse it at once, or after `wait` seconds of retrying. Every grant gets a new fencing token.
    public func acquireLease(
        _ session: String, path: String, exclusive: Bool, prefix: Bool = true, ttl: Double = 60, holder: String, wait: Double = 0
    ) throws(AFSError) -> Lease {
        let p = try SessionPath(path)
        guard ttl > 0, ttl <= 86_400 else { throw AFSError.invalidArgument("ttl must be between 0 and 86400 seconds") }
        try requireSession(session)
        let deadline = Date().addingTimeInterval(wait)
        // Before the grant: a write that checks after it must query the catalog again. And after
        // it: a write whose query ran while the grant was being committed saw no lease, and may
        // have noted the session lease-free (its count of grants was already this one's).
        forgetLeaseFree(session)
        defer { forgetLeaseFree(session) }
        while true {
            if let lease = try coordination.grantLease(
                session: session, path: p.description, prefix: prefix, exclusive: exclusive, holder: holder, ttl: ttl, now: options.wallClock())
            {
                return lease
            }
            if Date() >= deadline {
                let holders = try coordination.leases(session: session, now: options.wallClock())
                    .filter { $0.overlaps(Lease(session: session, path: p.description, prefix: prefix, exclusive: exclusive, holder: holder, token: 0, expiresAt: 0)) }
                    .map { "\($0.holder) (\($0.exclusive ? "exclusive" : "shared") on \($0.path), token \($0.token))" }
                throw AFSError(.locked, "\(p) is leased by \(holders.joined(separator: ", ")); wait for it to expire or pass --wait")
            }
            usleep(50_000)
        }
    }

    /// Makes every later write to `session` ask the catalog for its leases again, and refuses the
    /// note of a write whose query began before this.
    private func forgetLeaseFree(_ session: String) {
        leaseFree.withLock { state in
            state.grants &+= 1
            state.sessions.remove(session)
        }
    }

    /// Extends a live lease to `ttl` seconds (at most 86400) from now, whatever its session;
    /// `locked` when it already expired or was released.
    public func renewLease(token: UInt64, ttl: Double = 60) throws(AFSError) -> Lease {
        guard ttl > 0, ttl <= 86_400 else { throw AFSError.invalidArgument("ttl must be between 0 and 86400 seconds") }
        guard let lease = try coordination.renewLease(token: token, ttl: ttl, now: options.wallClock()) else {
            throw AFSError(.locked, "lease \(token) has expired or was released; acquire a new one")
        }
        return lease
    }

    /// Ends a lease at once, whatever its session; `notFound` when no lease has that token.
    public func releaseLease(token: UInt64) throws(AFSError) {
        guard try coordination.releaseLease(token: token) else { throw AFSError.notFound("no live lease with token \(token)") }
    }

    /// Renews a lease of `session`: a token of another session is "not found", so a caller that may
    /// see only some sessions cannot touch leases elsewhere by guessing tokens.
    public func renewLease(_ session: String, token: UInt64, ttl: Double = 60) throws(AFSError) -> Lease {
        guard try leases(session).contains(where: { $0.token == token }) else {
            throw AFSError(.locked, "session \(session) has no live lease \(token): it expired or was released; acquire a new one")
        }
        return try renewLease(token: token, ttl: ttl)
    }

    /// Releases a lease of `session` (see ``renewLease(_:token:ttl:)``).
    public func releaseLease(_ session: String, token: UInt64) throws(AFSError) {
        guard try leases(session).contains(where: { $0.token == token }) else {
            throw AFSError.notFound("session \(session) has no live lease with token \(token)")
        }
        try releaseLease(token: token)
    }

    /// Unexpired leases of a session, in grant order (by fencing token).
    public func leases(_ session: String) throws(AFSError) -> [Lease] {
        try coordination.leases(session: session, now: options.wallClock())
    }

    /// A write to a path under an exclusive lease needs that lease's token; a token that is not a live
    /// lease covering the path (expired, released, superseded) is stale and refused.
    func checkLeases(_ session: String, _ paths: [String], _ context: MutationContext) throws(AFSError) {
        if paths.isEmpty { return }
        // Only this process grants leases when it owns every session, so a session it found
        // lease-free stays so until `acquireLease` here says otherwise: no catalog read per write.
        let (grants, known) = leaseFree.withLock { ($0.grants, $0.sessions.contains(session)) }
        if ownership == nil, context.lockToken == nil, known { return }
        let live = try coordination.leases(session: session, now: options.wallClock())
        if live.isEmpty && ownership == nil {
            leaseFree.withLock { state in
                guard state.grants == grants else { return }  // a grant began since the query
                if state.sessions.count >= 100_000 { state.sessions.removeAll() }
                state.sessions.insert(session)
            }
        }
        if live.isEmpty && context.lockToken == nil { return }
        // A lease matters when it covers a path or lies below it (removing or moving a directory
        // changes everything under it).
        let overlapping = paths.map { path in
            let target = Lease(session: session, path: path, prefix: true, exclusive: false, holder: "", token: 0, expiresAt: 0)
            return (path, live.filter { $0.covers(path) || target.covers($0.path) })
        }
        // A token must be a live lease on (one of) the paths: an expired, released or superseded one is stale.
        if let token = context.lockToken, !overlapping.contains(where: { $0.1.contains { $0.token == token } }) {
            throw AFSError(.locked, "fencing token \(token) is stale or does not cover \(paths.joined(separator: ", ")); acquire the lease again")
        }
        for (path, leases) in overlapping {
            if let lease = leases.first(where: { $0.exclusive && $0.token != context.lockToken }) {
                throw AFSError(
                    .locked,
                    "\(path) is under an exclusive lease on \(lease.path) held by \(lease.holder) (token \(lease.token)); pass its token with --lock-token")
            }
        }
    }

    // MARK: Annotations

    /// Attaches a note to the session, a path, a line range of a path, or a commit.
    public func annotate(
        _ session: String, path: String? = nil, lines: ClosedRange<Int>? = nil, commit: String? = nil, kind: String = "note",
        text: String, author: String
    ) throws(AFSError) -> Annotation {
        guard !text.isEmpty, text.utf8.count <= 1 << 20 else { throw AFSError.invalidArgument("annotation text must be 1 byte to 1 MiB") }
        guard lines == nil || path != nil else { throw AFSError.invalidArgument("a line range needs a path") }
        if let lines, lines.lowerBound < 1 { throw AFSError.invalidArgument("line numbers start at 1") }
        let p = try path.map { (raw) throws(AFSError) in try SessionPath(raw).description }
        if let commit { _ = try self.commit(id: commit) }
        try requireSession(session)
        let a = Annotation(
            id: AetherStore.newID(prefix: "ann_"), session: session, path: p, lineStart: lines?.lowerBound, lineEnd: lines?.upperBound,
            commitID: commit, author: author, kind: kind, text: text, time: AetherStore.now())
        try coordination.insertAnnotation(a)
        return a
    }

    /// Annotations of a session, filtered by path (and below), kind or author.
    public func annotations(_ session: String, path: String? = nil, kind: String? = nil, author: String? = nil) throws(AFSError) -> [Annotation] {
        try requireSession(session)
        let p = try path.map { (raw) throws(AFSError) in try SessionPath(raw).description }
        return try coordination.annotations(session: session).filter { a in
            (p == nil || a.path == p || (a.path?.hasPrefix(p! == "/" ? "/" : p! + "/") ?? false))
                && (kind == nil || a.kind == kind) && (author == nil || a.author == author)
        }
    }

    // MARK: Reviews

    /// The session's status with its review request and decisions so far; no reviewers and 0
    /// required approvals when no review was requested. `notFound` for an unknown session.
    public func review(_ session: String) throws(AFSError) -> ReviewState {
        let info = try self.session(session)
        let r = try coordination.review(session: session)
        return ReviewState(
            session: session, status: info.status, reviewers: r?.reviewers ?? [], requiredApprovals: r?.required ?? 0,
            requestedBy: r?.requestedBy, decisions: try coordination.decisions(session: session))
    }

    /// Asks for review: the session becomes `pending-approval` until enough reviewers approve.
    public func requestReview(_ session: String, reviewers: [String] = [], requiredApprovals: Int = 1, context: MutationContext = .anonymous) throws(AFSError) -> ReviewState {
        guard requiredApprovals >= 1, requiredApprovals <= 100 else { throw AFSError.invalidArgument("required approvals must be 1…100") }
        guard reviewers.isEmpty || reviewers.count >= requiredApprovals else {
            throw AFSError.invalidArgument("\(requiredApprovals) approvals required but only \(reviewers.count) reviewers named")
        }
        try mutate(session, context) { (s) throws(AFSError) in
            try fold(s)
            try coordination.setReview(session: session, reviewers: reviewers, required: requiredApprovals, requestedBy: context.actor, time: AetherStore.now())
            try setStatus(s, .pendingApproval)
        }
        return try review(session)
    }

    /// Records an approval or rejection; `reviewer` must be one of the named reviewers when any were named.
    public func decide(_ session: String, approve: Bool, comment: String, reviewer: String) throws(AFSError) -> ReviewState {
        try mutateAllowingArchived(session) { (s) throws(AFSError) in
            guard let r = try coordination.review(session: session), s.info.status == .pendingApproval || s.info.status == .approved || s.info.status == .rejected else {
                throw AFSError.conflict("session \(session) has no open review; run `aether review request \(session)` first")
            }
            guard r.reviewers.isEmpty || r.reviewers.contains(reviewer) else {
                throw AFSError(.forbidden, "\(reviewer) is not a reviewer of \(session) (reviewers: \(r.reviewers.joined(separator: ", ")))")
            }
            try coordination.addDecision(session: session, ReviewState.Decision(reviewer: reviewer, approved: approve, comment: comment, time: AetherStore.now()))
            let decisions = try coordination.decisions(session: session)
            if decisions.contains(where: { !$0.approved }) {
                try setStatus(s, .rejected)
            } else if decisions.filter(\.approved).count >= r.required {
                try setStatus(s, .approved)
            } else {
                try setStatus(s, .pendingApproval)
            }
        }
        return try review(session)
    }

    func setStatus(_ s: LiveSession, _ status: SessionStatus) throws(AFSError) {
        guard s.info.status != status else { return }
        var info = s.info
        info.status = status
        info.updatedAt = Date()
        try catalog.updateSession(info)
        s.info = info
    }

    /// Requires `n` approvals before any session is promoted into `ref` (0 removes the requirement).
    public func setRefPolicy(_ ref: String, requiredApprovals n: Int) throws(AFSError) {
        guard n >= 0, n <= 100 else { throw AFSError.invalidArgument("required approvals must be 0…100") }
        try coordination.setRefPolicy(ref: ref, requiredApprovals: n)
    }

    /// Approvals required before a session is promoted into `ref`; 0 when there is no requirement.
    public func refPolicy(_ ref: String) throws(AFSError) -> Int { try coordination.refPolicy(ref: ref) }

    // MARK: Knowledge

    static func validateKey(_ key: String) throws(AFSError) {
        guard !key.isEmpty, key.utf8.count <= 512, !key.utf8.contains(0) else { throw AFSError.invalidArgument("a key must be 1…512 bytes without NUL") }
    }

    /// Stores a JSON value under a key, in a session's scope or store-wide (`session: nil`).
    public func putKnowledge(session: String?, key: String, value: String, tags: [String] = [], author: String) throws(AFSError) -> KnowledgeEntry {
        try AetherStore.validateKey(key)
        guard value.utf8.count <= 1 << 20, (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) != nil else {
            throw AFSError.invalidArgument("the value must be valid JSON of at most 1 MiB")
        }
        if let session { try requireSession(session) }
        let e = KnowledgeEntry(scope: session, key: key, value: value, tags: tags.filter { !$0.isEmpty }, author: author, time: AetherStore.now())
        try coordination.putKnowledge(e)
        return e
    }

    /// Reads one entry from the session's scope (store-wide when `session` is nil); `notFound` when absent.
    public func knowledge(session: String?, key: String) throws(AFSError) -> KnowledgeEntry {
        guard let e = try coordination.knowledge(scope: session, key: key) else { throw AFSError.notFound("no knowledge entry '\(key)'") }
        return e
    }

    /// Deletes one entry from the session's scope (store-wide when nil); `notFound` when there was none.
    public func deleteKnowledge(session: String?, key: String) throws(AFSError) {
        guard try coordination.deleteKnowledge(scope: session, key: key) else { throw AFSError.notFound("no knowledge entry '\(key)'") }
    }

    /// Entries of exactly one scope (store-wide when `session` is nil), sorted by key, optionally
    /// limited to keys starting with `prefix` and entries carrying `tag`.
    public func listKnowledge(session: String?, prefix: String? = nil, tag: String? = nil) throws(AFSError) -> [KnowledgeEntry] {
        try coordination.knowledge(scope: session, prefix: prefix, tag: tag)
    }

    // MARK: Undo by actor

    /// Reverts every path `actor` changed since a checkpoint (default: the session's latest) to its
    /// content at that checkpoint. Paths someone else changed afterwards are left alone and reported.
    public func undo(_ session: String, actor: String, since checkpointID: String? = nil, context: MutationContext = .anonymous) throws(AFSError) -> UndoReport {
        let checkpoint: CheckpointInfo
        if let checkpointID {
            guard let c = try catalog.checkpoint(checkpointID), c.sessionID == session else {
                throw AFSError.notFound("checkpoint \(checkpointID) of session \(session) does not exist")
            }
            checkpoint = c
        } else {
            guard let c = try catalog.checkpoints(session: session).last else {
                throw AFSError.conflict("session \(session) has no checkpoint to undo to; pass --since CHECKPOINT")
            }
            checkpoint = c
        }
        return try mutate(session, context) { (s) throws(AFSError) in
            var events: [ChangeEvent] = []
            var cursor = checkpoint.changeSeq
            while true {
                let page = try changes(session, after: cursor, limit: 10_000)
                if page.isEmpty { break }
                events += page
                cursor = page.last!.seq
            }
            let fileKinds: Set<ChangeEvent.Kind> = [.write, .patch, .truncate, .delete, .rename, .mkdir, .symlink, .chmod, .touch]
            var lastActor: [String: String] = [:]
            var touched: [String] = []
            for e in events {
                var paths: [String] = []
                if fileKinds.contains(e.kind) { paths.append(e.path) }
                if e.kind == .rename, let to = e.detail { paths.append(to) }
                if e.kind == .restore || e.kind == .undo && e.path.isEmpty { lastActor.removeAll() }
                for p in paths {
                    lastActor[p] = e.actor
                    if e.actor == actor && !touched.contains(p) { touched.append(p) }
                }
            }
            var report = UndoReport(restored: [], removed: [], skipped: [], checkpoint: checkpoint.id)
            var edits: [(path: [String], edit: FileTree.Edit)] = []
            try fold(s)
            // Shallow paths first, so a restored directory is in place before anything below it.
            for path in touched.sorted(by: { $0.split(separator: "/").count < $1.split(separator: "/").count }) {
                guard lastActor[path] == actor else {
                    report.skipped.append(path)
                    continue
                }
                let p = try SessionPath(path)
                if let original = try tree.lookup(checkpoint.root, p.components) {
                    edits.append((p.components, .put(original)))
                    report.restored.append(path)
                } else if try tree.lookup(s.info.root, p.components) != nil {
                    edits.append((p.components, .delete))
                    report.removed.append(path)
                }
            }
            if !edits.isEmpty {
                try fold(s, extra: edits)
                for path in report.restored + report.removed {
                    try recordEvent(s, .undo, path, context, detail: "undo \(actor) since \(checkpoint.id)")
                }
                try markActive(s)
            }
            return report
        }
    }
}


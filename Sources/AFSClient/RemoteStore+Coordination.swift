import AFSCore
import AFSWire
import Foundation

extension RemoteStore {
    /// `GET /v1/sessions/{id}/changes`: events after `seq`; a positive `wait` long-polls, rounded up
    /// to whole seconds (the server caps it at 60).
    public func changes(_ session: String, after seq: UInt64, limit: Int, wait: Double) throws(AFSError) -> [ChangeEvent] {
        var query = [("since", String(seq)), ("limit", String(limit))]
        if wait > 0 { query.append(("wait", String(Int(wait.rounded(.up))))) }
        return try json([ChangeEvent].self, Call(.GET, RemoteStore.sessionPath(session, "/changes"), query: query))
    }

    /// `POST /v1/sessions/{id}/bus/{topic}`: publishes `payload` (a JSON document, sent as is) as `sender`.
    public func publish(_ session: String, topic: String, payload: String, sender: String) throws(AFSError) -> BusMessage {
        try json(
            BusMessage.self, Call(.POST, RemoteStore.sessionPath(session, "/bus/\(RemoteStore.escape(topic))"), context: MutationContext(actor: sender)),
            body: .bytes(Data(payload.utf8), contentType: "application/json"))
    }

    /// `GET /v1/sessions/{id}/bus/{topic}`: messages from `offset` on, oldest first; a positive `wait`
    /// long-polls, rounded up to whole seconds.
    public func messages(_ session: String, topic: String, from offset: UInt64, limit: Int, wait: Double) throws(AFSError) -> [BusMessage] {
        var query = [("from", String(offset)), ("limit", String(limit))]
        if wait > 0 { query.append(("wait", String(Int(wait.rounded(.up))))) }
        return try json([BusMessage].self, Call(.GET, RemoteStore.sessionPath(session, "/bus/\(RemoteStore.escape(topic))"), query: query))
    }

    /// `GET /v1/sessions/{id}/bus`: the topics the session's bus has seen.
    public func topics(_ session: String) throws(AFSError) -> [String] {
        try json([String].self, Call(.GET, RemoteStore.sessionPath(session, "/bus")))
    }

    /// `POST /v1/sessions/{id}/locks`: acquires a lease on `path` (or everything under it with `prefix`)
    /// for `ttl` seconds; `.locked` if a conflicting lease outlasts `wait` seconds.
    public func acquireLease(
        _ session: String, path: String, exclusive: Bool, prefix: Bool, ttl: Double, holder: String, wait: Double
    ) throws(AFSError) -> Lease {
        try json(
            Lease.self, Call(.POST, RemoteStore.sessionPath(session, "/locks"), context: MutationContext(actor: holder)),
            body: RemoteStore.jsonBody(LockRequest(path: path, exclusive: exclusive, prefix: prefix, ttl: ttl, wait: wait, holder: holder)))
    }

    /// `POST /v1/sessions/{id}/locks/{token}/renew`: extends the lease to `ttl` seconds from now;
    /// `.locked` once it has expired or was released.
    public func renewLease(_ session: String, token: UInt64, ttl: Double) throws(AFSError) -> Lease {
        try json(Lease.self, Call(.POST, RemoteStore.sessionPath(session, "/locks/\(token)/renew")), body: RemoteStore.jsonBody(RenewRequest(ttl: ttl)))
    }

    /// `DELETE /v1/sessions/{id}/locks/{token}`: releases the lease.
    public func releaseLease(_ session: String, token: UInt64) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.sessionPath(session, "/locks/\(token)")))
    }

    /// `GET /v1/sessions/{id}/locks`: the session's live leases.
    public func leases(_ session: String) throws(AFSError) -> [Lease] {
        try json([Lease].self, Call(.GET, RemoteStore.sessionPath(session, "/locks")))
    }

    /// `POST /v1/sessions/{id}/annotations`: attaches a note to the session, a path, a line range or a
    /// commit, as `author`.
    public func annotate(
        _ session: String, path: String?, lines: ClosedRange<Int>?, commit: String?, kind: String, text: String, author: String
    ) throws(AFSError) -> Annotation {
        let body = AnnotationRequest(path: path, lineStart: lines?.lowerBound, lineEnd: lines?.upperBound, commit: commit, kind: kind, text: text)
        return try json(
            Annotation.self, Call(.POST, RemoteStore.sessionPath(session, "/annotations"), context: MutationContext(actor: author)),
            body: RemoteStore.jsonBody(body))
    }

    /// `GET /v1/sessions/{id}/annotations`: annotations oldest first, filtered by whichever of `path`,
    /// `kind` and `author` are given.
    public func annotations(_ session: String, path: String?, kind: String?, author: String?) throws(AFSError) -> [Annotation] {
        let query = [("path", path), ("kind", kind), ("author", author)].compactMap { k, v in v.map { (k, $0) } }
        return try json([Annotation].self, Call(.GET, RemoteStore.sessionPath(session, "/annotations"), query: query))
    }

    /// `GET /v1/sessions/{id}/review`: the session's review state.
    public func review(_ session: String) throws(AFSError) -> ReviewState {
        try json(ReviewState.self, Call(.GET, RemoteStore.sessionPath(session, "/review")))
    }

    /// `POST /v1/sessions/{id}/review`: asks `reviewers` for review, needing `requiredApprovals` approvals.
    public func requestReview(_ session: String, reviewers: [String], requiredApprovals: Int, context: MutationContext) throws(AFSError) -> ReviewState {
        try json(
            ReviewState.self, Call(.POST, RemoteStore.sessionPath(session, "/review"), context: context),
            body: RemoteStore.jsonBody(ReviewRequest(reviewers: reviewers, requiredApprovals: requiredApprovals)))
    }

    /// `POST /v1/sessions/{id}/review/approve` or `/review/reject`: records `reviewer`'s decision with `comment`.
    public func decide(_ session: String, approve: Bool, comment: String, reviewer: String) throws(AFSError) -> ReviewState {
        try json(
            ReviewState.self,
            Call(.POST, RemoteStore.sessionPath(session, approve ? "/review/approve" : "/review/reject"), context: MutationContext(actor: reviewer)),
            body: RemoteStore.jsonBody(DecisionRequest(comment: comment)))
    }

    static func knowledgePath(_ session: String?, _ key: String? = nil) -> String {
        let base = session.map { sessionPath($0, "/knowledge") } ?? "/v1/knowledge"
        return key.map { base + "/" + escape($0) } ?? base
    }

    /// `PUT` on the knowledge route (`/v1/knowledge/{key}`, or the session's when `session` is given):
    /// stores `value` (a JSON document) under `key` with `tags`.
    public func putKnowledge(session: String?, key: String, value: String, tags: [String], author: String) throws(AFSError) -> KnowledgeEntry {
        try json(
            KnowledgeEntry.self,
            Call(.PUT, RemoteStore.knowledgePath(session, key), query: tags.map { ("tag", $0) }, context: MutationContext(actor: author)),
            body: .bytes(Data(value.utf8), contentType: "application/json"))
    }

    /// `GET` on the knowledge route: the entry at `key`; `.notFound` when there is none.
    public func knowledge(session: String?, key: String) throws(AFSError) -> KnowledgeEntry {
        try json(KnowledgeEntry.self, Call(.GET, RemoteStore.knowledgePath(session, key)))
    }

    /// `DELETE` on the knowledge route: removes the entry at `key`.
    public func deleteKnowledge(session: String?, key: String) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.knowledgePath(session, key)))
    }

    /// `GET` on the knowledge route: entries filtered by key `prefix` and/or `tag` when given.
    public func listKnowledge(session: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry] {
        let query = [("prefix", prefix), ("tag", tag)].compactMap { k, v in v.map { (k, $0) } }
        return try json([KnowledgeEntry].self, Call(.GET, RemoteStore.knowledgePath(session), query: query))
    }

    /// `POST /v1/sessions/{id}/undo`: reverts the paths `actor` changed since `checkpointID` (nil: the
    /// session's latest checkpoint); paths others changed since are reported, not reverted.
    public func undo(_ session: String, actor: String, since checkpointID: String?, context: MutationContext) throws(AFSError) -> UndoReport {
        let body = UndoRequest(actor: actor, since: checkpointID)
        return try json(UndoReport.self, Call(.POST, RemoteStore.sessionPath(session, "/undo"), context: context), body: RemoteStore.jsonBody(body))
    }
}

import AFSCore
import AFSWire
import Foundation

extension RemoteStore {
    public func changes(_ session: String, after seq: UInt64, limit: Int, wait: Double) throws(AFSError) -> [ChangeEvent] {
        var query = [("since", String(seq)), ("limit", String(limit))]
        if wait > 0 { query.append(("wait", String(Int(wait.rounded(.up))))) }
        return try json([ChangeEvent].self, Call(.GET, RemoteStore.sessionPath(session, "/changes"), query: query))
    }

    public func publish(_ session: String, topic: String, payload: String, sender: String) throws(AFSError) -> BusMessage {
        try json(
            BusMessage.self, Call(.POST, RemoteStore.sessionPath(session, "/bus/\(RemoteStore.escape(topic))"), context: MutationContext(actor: sender)),
            body: .bytes(Data(payload.utf8), contentType: "application/json"))
    }

    public func messages(_ session: String, topic: String, from offset: UInt64, limit: Int, wait: Double) throws(AFSError) -> [BusMessage] {
        var query = [("from", String(offset)), ("limit", String(limit))]
        if wait > 0 { query.append(("wait", String(Int(wait.rounded(.up))))) }
        return try json([BusMessage].self, Call(.GET, RemoteStore.sessionPath(session, "/bus/\(RemoteStore.escape(topic))"), query: query))
    }

    public func topics(_ session: String) throws(AFSError) -> [String] {
        try json([String].self, Call(.GET, RemoteStore.sessionPath(session, "/bus")))
    }

    public func acquireLease(
        _ session: String, path: String, exclusive: Bool, prefix: Bool, ttl: Double, holder: String, wait: Double
    ) throws(AFSError) -> Lease {
        try json(
            Lease.self, Call(.POST, RemoteStore.sessionPath(session, "/locks"), context: MutationContext(actor: holder)),
            body: RemoteStore.jsonBody(LockRequest(path: path, exclusive: exclusive, prefix: prefix, ttl: ttl, wait: wait, holder: holder)))
    }

    public func renewLease(_ session: String, token: UInt64, ttl: Double) throws(AFSError) -> Lease {
        try json(Lease.self, Call(.POST, RemoteStore.sessionPath(session, "/locks/\(token)/renew")), body: RemoteStore.jsonBody(RenewRequest(ttl: ttl)))
    }

    public func releaseLease(_ session: String, token: UInt64) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.sessionPath(session, "/locks/\(token)")))
    }

    public func leases(_ session: String) throws(AFSError) -> [Lease] {
        try json([Lease].self, Call(.GET, RemoteStore.sessionPath(session, "/locks")))
    }

    public func annotate(
        _ session: String, path: String?, lines: ClosedRange<Int>?, commit: String?, kind: String, text: String, author: String
    ) throws(AFSError) -> Annotation {
        let body = AnnotationRequest(path: path, lineStart: lines?.lowerBound, lineEnd: lines?.upperBound, commit: commit, kind: kind, text: text)
        return try json(
            Annotation.self, Call(.POST, RemoteStore.sessionPath(session, "/annotations"), context: MutationContext(actor: author)),
            body: RemoteStore.jsonBody(body))
    }

    public func annotations(_ session: String, path: String?, kind: String?, author: String?) throws(AFSError) -> [Annotation] {
        let query = [("path", path), ("kind", kind), ("author", author)].compactMap { k, v in v.map { (k, $0) } }
        return try json([Annotation].self, Call(.GET, RemoteStore.sessionPath(session, "/annotations"), query: query))
    }

    public func review(_ session: String) throws(AFSError) -> ReviewState {
        try json(ReviewState.self, Call(.GET, RemoteStore.sessionPath(session, "/review")))
    }

    public func requestReview(_ session: String, reviewers: [String], requiredApprovals: Int, context: MutationContext) throws(AFSError) -> ReviewState {
        try json(
            ReviewState.self, Call(.POST, RemoteStore.sessionPath(session, "/review"), context: context),
            body: RemoteStore.jsonBody(ReviewRequest(reviewers: reviewers, requiredApprovals: requiredApprovals)))
    }

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

    public func putKnowledge(session: String?, key: String, value: String, tags: [String], author: String) throws(AFSError) -> KnowledgeEntry {
        try json(
            KnowledgeEntry.self,
            Call(.PUT, RemoteStore.knowledgePath(session, key), query: tags.map { ("tag", $0) }, context: MutationContext(actor: author)),
            body: .bytes(Data(value.utf8), contentType: "application/json"))
    }

    public func knowledge(session: String?, key: String) throws(AFSError) -> KnowledgeEntry {
        try json(KnowledgeEntry.self, Call(.GET, RemoteStore.knowledgePath(session, key)))
    }

    public func deleteKnowledge(session: String?, key: String) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.knowledgePath(session, key)))
    }

    public func listKnowledge(session: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry] {
        let query = [("prefix", prefix), ("tag", tag)].compactMap { k, v in v.map { (k, $0) } }
        return try json([KnowledgeEntry].self, Call(.GET, RemoteStore.knowledgePath(session), query: query))
    }

    public func undo(_ session: String, actor: String, since checkpointID: String?, context: MutationContext) throws(AFSError) -> UndoReport {
        let body = UndoRequest(actor: actor, since: checkpointID)
        return try json(UndoReport.self, Call(.POST, RemoteStore.sessionPath(session, "/undo"), context: context), body: RemoteStore.jsonBody(body))
    }
}

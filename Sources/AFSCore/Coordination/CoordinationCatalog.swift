/// Durable coordination state beside the trees: changefeed, bus, leases, annotations, reviews,
/// knowledge. Kept behind a protocol for the same reason as `Catalog`.
public protocol CoordinationCatalog: Sendable {
    /// Inserts events (ignoring ones already present, for journal replay). `durable: false` lets the
    /// caller rely on its own journal for durability and skip the catalog's fsync.
    func appendEvents(_ events: [ChangeEvent], durable: Bool) throws(AFSError)
    /// Up to `limit` of the session's events with seq above `seq`, in ascending seq order; empty when
    /// there are none (an unknown session included).
    func events(session: String, after seq: UInt64, limit: Int) throws(AFSError) -> [ChangeEvent]
    /// Highest seq the session has used: its newest event or its prune floor, whichever is larger;
    /// 0 when it has neither.
    func lastSeq(session: String) throws(AFSError) -> UInt64
    /// The oldest seq still retained minus one (a cursor below it has lost events).
    func eventFloor(session: String) throws(AFSError) -> UInt64
    /// Drops events up to `seq` and remembers the floor.
    func pruneEvents(session: String, through seq: UInt64) throws(AFSError)

    /// Appends a message at the topic's highest offset plus one (concurrent publishers never share one),
    /// may trim all but the newest `retain` (0 keeps all), and returns it; durable when it returns.
    func publish(session: String, topic: String, sender: String, payload: String, time: Int64, retain: Int) throws(AFSError) -> BusMessage
    /// Up to `limit` messages of the topic from `offset` (inclusive), in offset order; empty past the end.
    func messages(session: String, topic: String, from offset: UInt64, limit: Int) throws(AFSError) -> [BusMessage]
    /// Distinct topics of the session that have stored messages, sorted (byte order).
    func topics(session: String) throws(AFSError) -> [String]

    /// Grants a lease if no live conflicting one exists; returns nil when refused.
    func grantLease(session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, ttl: Double, now: Double) throws(AFSError) -> Lease?
    /// Makes a lease still live at `now` expire at `now + ttl` and returns it; nil when it expired or
    /// is gone (an expired lease is never revived). Durable when it returns.
    func renewLease(token: UInt64, ttl: Double, now: Double) throws(AFSError) -> Lease?
    /// Deletes the lease with that token, live or expired; false when there was none.
    func releaseLease(token: UInt64) throws(AFSError) -> Bool
    /// The session's leases still live at `now` (expiring after it), ordered by token.
    func leases(session: String, now: Double) throws(AFSError) -> [Lease]

    /// Stores a new annotation; durable when it returns. A taken ID throws (`alreadyExists` from
    /// PostgreSQL, `io` from SQLite).
    func insertAnnotation(_ a: Annotation) throws(AFSError)
    /// Every annotation of the session, ordered by time, then ID.
    func annotations(session: String) throws(AFSError) -> [Annotation]

    /// Replaces the session's review request and deletes its earlier decisions, in one transaction;
    /// durable when it returns.
    func setReview(session: String, reviewers: [String], required: Int, requestedBy: String, time: Int64) throws(AFSError)
    /// The session's review request (reviewers, required approvals, requester); nil when none was made.
    func review(session: String) throws(AFSError) -> (reviewers: [String], required: Int, requestedBy: String)?
    /// Records a reviewer's decision, replacing that reviewer's earlier one; durable when it returns.
    func addDecision(session: String, _ d: ReviewState.Decision) throws(AFSError)
    /// Decisions on the session's review, one per reviewer, oldest first by `time`.
    func decisions(session: String) throws(AFSError) -> [ReviewState.Decision]
    /// Deletes every decision on the session's review, keeping the request itself.
    func clearDecisions(session: String) throws(AFSError)
    /// Sets (replacing any earlier value) how many approvals a promote to `ref` needs; 0 means none.
    func setRefPolicy(ref: String, requiredApprovals: Int) throws(AFSError)
    /// Approvals a promote to `ref` needs; 0 when the ref has no policy.
    func refPolicy(ref: String) throws(AFSError) -> Int

    /// Inserts the entry or replaces the one with the same scope and key (nil scope: store-wide);
    /// durable when it returns.
    func putKnowledge(_ e: KnowledgeEntry) throws(AFSError)
    /// The entry with that scope (nil: store-wide) and key; nil when there is none.
    func knowledge(scope: String?, key: String) throws(AFSError) -> KnowledgeEntry?
    /// Deletes the entry with that scope and key; false when there was none.
    func deleteKnowledge(scope: String?, key: String) throws(AFSError) -> Bool
    /// Entries of exactly `scope` (nil: store-wide only) whose key starts with `prefix` and that carry
    /// `tag`, each filter only when given; sorted by key (byte order).
    func knowledge(scope: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry]

    /// Removes every coordination row of a deleted session.
    func deleteCoordination(session: String) throws(AFSError)
}

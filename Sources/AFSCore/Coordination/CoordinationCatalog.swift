/// Durable coordination state beside the trees: changefeed, bus, leases, annotations, reviews,
/// knowledge. Kept behind a protocol for the same reason as `Catalog`.
public protocol CoordinationCatalog: Sendable {
    /// Inserts events (ignoring ones already present, for journal replay). `durable: false` lets the
    /// caller rely on its own journal for durability and skip the catalog's fsync.
    func appendEvents(_ events: [ChangeEvent], durable: Bool) throws(AFSError)
    func events(session: String, after seq: UInt64, limit: Int) throws(AFSError) -> [ChangeEvent]
    func lastSeq(session: String) throws(AFSError) -> UInt64
    /// The oldest seq still retained minus one (a cursor below it has lost events).
    func eventFloor(session: String) throws(AFSError) -> UInt64
    /// Drops events up to `seq` and remembers the floor.
    func pruneEvents(session: String, through seq: UInt64) throws(AFSError)

    func publish(session: String, topic: String, sender: String, payload: String, time: Int64, retain: Int) throws(AFSError) -> BusMessage
    func messages(session: String, topic: String, from offset: UInt64, limit: Int) throws(AFSError) -> [BusMessage]
    func topics(session: String) throws(AFSError) -> [String]

    /// Grants a lease if no live conflicting one exists; returns nil when refused.
    func grantLease(session: String, path: String, prefix: Bool, exclusive: Bool, holder: String, ttl: Double, now: Double) throws(AFSError) -> Lease?
    func renewLease(token: UInt64, ttl: Double, now: Double) throws(AFSError) -> Lease?
    func releaseLease(token: UInt64) throws(AFSError) -> Bool
    func leases(session: String, now: Double) throws(AFSError) -> [Lease]

    func insertAnnotation(_ a: Annotation) throws(AFSError)
    func annotations(session: String) throws(AFSError) -> [Annotation]

    func setReview(session: String, reviewers: [String], required: Int, requestedBy: String, time: Int64) throws(AFSError)
    func review(session: String) throws(AFSError) -> (reviewers: [String], required: Int, requestedBy: String)?
    func addDecision(session: String, _ d: ReviewState.Decision) throws(AFSError)
    func decisions(session: String) throws(AFSError) -> [ReviewState.Decision]
    func clearDecisions(session: String) throws(AFSError)
    func setRefPolicy(ref: String, requiredApprovals: Int) throws(AFSError)
    func refPolicy(ref: String) throws(AFSError) -> Int

    func putKnowledge(_ e: KnowledgeEntry) throws(AFSError)
    func knowledge(scope: String?, key: String) throws(AFSError) -> KnowledgeEntry?
    func deleteKnowledge(scope: String?, key: String) throws(AFSError) -> Bool
    func knowledge(scope: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry]

    /// Removes every coordination row of a deleted session.
    func deleteCoordination(session: String) throws(AFSError)
}

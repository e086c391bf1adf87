/// The transactional metadata store beside the chunk store: sessions, checkpoints, commits, refs,
/// snapshots. The engine talks only to this protocol (and ``CoordinationCatalog``), so a
/// PostgreSQL catalog for a clustered deployment is a conformance given to
/// ``AetherStore/open(at:options:chunks:catalog:journals:ownership:)``, not a fork of the engine; SQLite in the
/// store's directory is the embedded one. Every method is durable when it returns.
public protocol Catalog: Sendable {
    /// Inserts a session together with changefeed events (its own first event, its parent's fork
    /// event) in one transaction: one sync for a fork. The ID must be new (the store draws 80
    /// random bits for each): PostgreSQL refuses a duplicate, the embedded catalog ignores it.
    func insertSession(_ session: SessionInfo, events: [ChangeEvent]) throws(AFSError)
    /// The session with that ID; nil when there is none.
    func session(_ id: String) throws(AFSError) -> SessionInfo?
    /// Sessions with `status` (every session when nil), ordered by creation time, then ID.
    func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo]
    /// Replaces a session's row (all fields).
    func updateSession(_ session: SessionInfo) throws(AFSError)
    /// Deletes the session and its checkpoints in one transaction; an unknown ID is not an error.
    /// Durable when it returns.
    func deleteSession(_ id: String) throws(AFSError)

    /// Records a new checkpoint, `changeSeq` included; durable when it returns. A taken ID throws
    /// (`alreadyExists` from PostgreSQL, `io` from SQLite).
    func insertCheckpoint(_ checkpoint: CheckpointInfo) throws(AFSError)
    /// The checkpoint with that ID; nil when there is none.
    func checkpoint(_ id: String) throws(AFSError) -> CheckpointInfo?
    /// The session's checkpoints, oldest first (ties in insertion order); empty for an unknown session.
    func checkpoints(session: String) throws(AFSError) -> [CheckpointInfo]

    /// Records a commit; durable when it returns. Commits are content-addressed, so an ID already
    /// stored is kept as it is, without an error.
    func insertCommit(_ commit: CommitInfo) throws(AFSError)
    /// The commit with that ID; nil when there is none.
    func commit(_ id: String) throws(AFSError) -> CommitInfo?

    /// The ref with that name; nil when there is none.
    func ref(_ name: String) throws(AFSError) -> RefInfo?
    /// Every ref, sorted by name (byte order).
    func refs() throws(AFSError) -> [RefInfo]
    /// Moves a ref only if it still points at `expected` (nil: must not exist): compare-and-set,
    /// so two promotes racing cannot both win.
    func setRef(_ name: String, to commit: String, expected: String?) throws(AFSError) -> Bool

    /// Records a new snapshot; throws `alreadyExists` when the name is taken. Durable when it returns.
    func insertSnapshot(_ snapshot: SnapshotInfo) throws(AFSError)
    /// The snapshot with that name; nil when there is none.
    func snapshot(_ name: String) throws(AFSError) -> SnapshotInfo?
    /// Every snapshot, sorted by name (byte order).
    func snapshots() throws(AFSError) -> [SnapshotInfo]

    /// Every tree root the catalog keeps alive (GC roots).
    func liveRoots() throws(AFSError) -> [ChunkID]

    /// Ends this process's use of the catalog when its store closes, so the store can be opened
    /// again at once (the embedded catalog holds its database locked while open). A catalog
    /// whose connections belong to someone else (the clustered backend) does nothing.
    func close() throws(AFSError)
}

extension Catalog {
    public func close() throws(AFSError) {}
}

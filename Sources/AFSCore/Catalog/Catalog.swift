/// The transactional metadata store beside the chunk store: sessions, checkpoints, commits, refs,
/// snapshots. The engine talks only to this protocol (and ``CoordinationCatalog``), so a
/// PostgreSQL catalog for a clustered deployment is a conformance given to
/// ``AetherStore/open(at:options:chunks:catalog:)``, not a fork of the engine; SQLite in the
/// store's directory is the embedded one. Every method is durable when it returns.
public protocol Catalog: Sendable {
    /// Inserts a session together with changefeed events (its own first event, its parent's fork
    /// event) in one transaction: one sync for a fork.
    func insertSession(_ session: SessionInfo, events: [ChangeEvent]) throws(AFSError)
    func session(_ id: String) throws(AFSError) -> SessionInfo?
    func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo]
    /// Replaces a session's row (all fields).
    func updateSession(_ session: SessionInfo) throws(AFSError)
    func deleteSession(_ id: String) throws(AFSError)

    func insertCheckpoint(_ checkpoint: CheckpointInfo) throws(AFSError)
    func checkpoint(_ id: String) throws(AFSError) -> CheckpointInfo?
    func checkpoints(session: String) throws(AFSError) -> [CheckpointInfo]

    func insertCommit(_ commit: CommitInfo) throws(AFSError)
    func commit(_ id: String) throws(AFSError) -> CommitInfo?

    func ref(_ name: String) throws(AFSError) -> RefInfo?
    func refs() throws(AFSError) -> [RefInfo]
    /// Moves a ref only if it still points at `expected` (nil: must not exist): compare-and-set,
    /// so two promotes racing cannot both win.
    func setRef(_ name: String, to commit: String, expected: String?) throws(AFSError) -> Bool

    func insertSnapshot(_ snapshot: SnapshotInfo) throws(AFSError)
    func snapshot(_ name: String) throws(AFSError) -> SnapshotInfo?
    func snapshots() throws(AFSError) -> [SnapshotInfo]

    /// Every tree root the catalog keeps alive (GC roots).
    func liveRoots() throws(AFSError) -> [ChunkID]
}

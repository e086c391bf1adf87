import AFSCore

/// What a client can ask of AetherFS, whichever side of the network the store is on.
///
/// Two transports implement it: ``AFSCore/AetherStore`` (the embedded store, in process) and
/// ``RemoteStore`` (an `afs-server` over HTTP). `aether` runs one command set over either, and the
/// same test suite drives both, so a script written against a local store keeps working when
/// the store moves behind a server.
///
/// Every method is synchronous and throws ``AFSCore/AFSError``: the remote transport maps the
/// server's `{"error": {"code", "message"}}` back to the same codes the engine throws, so callers
/// handle one set of errors.
public protocol AetherService: AnyObject {
    /// Where the service lives, for messages: a directory or a URL.
    var location: String { get }

    // MARK: Sessions

    /// Creates a session. `.directory`, `.tar` and `.git` name paths on the caller's machine: the
    /// remote transport uploads them as a tar stream. `preserveOwners` records the numeric owners
    /// of an imported directory or archive (`tar --same-owner`).
    func createSession(
        name: String?, from source: SessionSource, context: MutationContext, preserveOwners: Bool,
        progress: (@Sendable (ImportProgress) -> Void)?
    ) throws(AFSError) -> SessionInfo
    func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo]
    func session(_ id: String) throws(AFSError) -> SessionInfo
    func fork(_ id: String, name: String?, context: MutationContext) throws(AFSError) -> SessionInfo
    func checkpoint(_ id: String, label: String?, context: MutationContext) throws(AFSError) -> CheckpointInfo
    func checkpoints(of session: String) throws(AFSError) -> [CheckpointInfo]
    func restore(_ id: String, checkpoint checkpointID: String, context: MutationContext) throws(AFSError)
    func commit(_ id: String, message: String, author: String, context: MutationContext?) throws(AFSError) -> CommitInfo
    func promote(_ id: String, ref: String, context: MutationContext) throws(AFSError) -> PromoteResult
    /// What changed from `other` (a session, checkpoint, commit, ref or snapshot) to session `id`.
    func diff(_ id: String, against other: String) throws(AFSError) -> [DiffEntry]
    func manifest(_ id: String) throws(AFSError) -> [ManifestEntry]
    func archive(_ id: String, context: MutationContext) throws(AFSError)
    func delete(_ id: String) throws(AFSError)
    /// Streams the session as a tar archive into `fd` (a file, a pipe or stdout).
    func exportTar(_ id: String, to fd: Int32) throws(AFSError)
    func createSnapshot(of id: String, name: String) throws(AFSError) -> SnapshotInfo
    func snapshots() throws(AFSError) -> [SnapshotInfo]
    func refs() throws(AFSError) -> [RefInfo]
    /// The commits reachable from a ref or commit, newest first (``AFSCore/AetherStore/log(_:limit:skip:)``).
    func log(_ start: String, limit: Int, skip: Int) throws(AFSError) -> [CommitInfo]
    /// One commit by its ID.
    func commit(id: String) throws(AFSError) -> CommitInfo
    func setRefPolicy(_ ref: String, requiredApprovals n: Int) throws(AFSError)

    // MARK: Files

    func stat(_ session: String, path: String) throws(AFSError) -> FileStat
    func readFile(_ session: String, path: String, offset: UInt64, length: UInt64?) throws(AFSError) -> [UInt8]
    func list(_ session: String, path: String) throws(AFSError) -> [DirectoryEntry]
    /// Streams a file into `fd` without holding it in memory.
    func copyFile(_ session: String, path: String, to fd: Int32) throws(AFSError)
    func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32?, context: MutationContext) throws(AFSError)
    /// Writes a file from everything `fd` yields (a pipe or a file), streamed: any size, flat memory.
    /// The file changes only once the whole content arrived. `mtime` (nanoseconds since 1970)
    /// records that modification time in the same durable write; nil records the time of the write.
    func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, context: MutationContext) throws(AFSError)
    func makeDirectory(_ session: String, path: String, parents: Bool, mode: UInt32, context: MutationContext) throws(AFSError)
    func remove(_ session: String, path: String, recursive: Bool, context: MutationContext) throws(AFSError)
    /// Applies many directory creations, removals and small whole-file writes in order, with one
    /// durable wait (``AetherStore/apply(_:_:context:)``): one outcome per change.
    func apply(_ session: String, _ changes: [BatchChange], context: MutationContext) throws(AFSError) -> [BatchOutcome]
    func rename(_ session: String, from: String, to: String, context: MutationContext) throws(AFSError)
    /// Creates a symbolic link at `path` whose target is stored as given (never followed by the
    /// store; the client that reads it resolves it). Missing parents are created.
    func symlink(_ session: String, path: String, target: String, context: MutationContext) throws(AFSError)
    /// Sets the permission bits (`0o7777`) of a file, symlink or directory, keeping its content.
    func setMode(_ session: String, path: String, mode: UInt32, context: MutationContext) throws(AFSError)
    /// Sets the modification and/or access time (nanoseconds since 1970; nil keeps one) of an entry.
    func setTimes(_ session: String, path: String, mtime: Int64?, atime: Int64?, context: MutationContext) throws(AFSError)
    /// Moves entries' access times forward (a mount's `relatime`); no change time, event or
    /// durability wait. Missing paths are skipped; returns how many entries moved.
    @discardableResult
    func recordAccessTimes(_ session: String, _ times: [String: Int64]) throws(AFSError) -> Int
    /// Creates a FIFO, socket or device node (metadata only; `rdev` for device nodes). The parent must exist.
    func makeNode(_ session: String, path: String, kind: EntryKind, mode: UInt32, rdev: UInt64, context: MutationContext) throws(AFSError)
    /// Records a new numeric owner and/or group (nil keeps that one), clearing set-id bits as `chown(2)` does.
    func setOwner(_ session: String, path: String, uid: UInt32?, gid: UInt32?, context: MutationContext) throws(AFSError)
    /// Every extended attribute of an entry (`user.` namespace), by name.
    func extendedAttributes(_ session: String, path: String) throws(AFSError) -> [String: [UInt8]]
    func setExtendedAttribute(
        _ session: String, path: String, name: String, value: [UInt8], disposition: AetherStore.XattrDisposition, context: MutationContext
    ) throws(AFSError)
    func removeExtendedAttribute(_ session: String, path: String, name: String, context: MutationContext) throws(AFSError)
    /// Gives the file at `existing` a second name `path` (a hard link; not for directories).
    func link(_ session: String, from existing: String, to path: String, context: MutationContext) throws(AFSError)
    /// Every name of the file at `path`, sorted (just `path` when it is not hard-linked).
    func hardLinks(_ session: String, path: String) throws(AFSError) -> [String]

    // MARK: Coordination

    /// Events after `seq`. With `wait > 0` the remote transport holds the request open until an
    /// event arrives or `wait` seconds pass; the embedded store answers at once.
    func changes(_ session: String, after seq: UInt64, limit: Int, wait: Double) throws(AFSError) -> [ChangeEvent]
    func publish(_ session: String, topic: String, payload: String, sender: String) throws(AFSError) -> BusMessage
    func messages(_ session: String, topic: String, from offset: UInt64, limit: Int, wait: Double) throws(AFSError) -> [BusMessage]
    func topics(_ session: String) throws(AFSError) -> [String]
    func acquireLease(
        _ session: String, path: String, exclusive: Bool, prefix: Bool, ttl: Double, holder: String, wait: Double
    ) throws(AFSError) -> Lease
    func renewLease(_ session: String, token: UInt64, ttl: Double) throws(AFSError) -> Lease
    func releaseLease(_ session: String, token: UInt64) throws(AFSError)
    func leases(_ session: String) throws(AFSError) -> [Lease]
    func annotate(
        _ session: String, path: String?, lines: ClosedRange<Int>?, commit: String?, kind: String, text: String, author: String
    ) throws(AFSError) -> Annotation
    func annotations(_ session: String, path: String?, kind: String?, author: String?) throws(AFSError) -> [Annotation]
    func review(_ session: String) throws(AFSError) -> ReviewState
    func requestReview(_ session: String, reviewers: [String], requiredApprovals: Int, context: MutationContext) throws(AFSError) -> ReviewState
    func decide(_ session: String, approve: Bool, comment: String, reviewer: String) throws(AFSError) -> ReviewState
    func putKnowledge(session: String?, key: String, value: String, tags: [String], author: String) throws(AFSError) -> KnowledgeEntry
    func knowledge(session: String?, key: String) throws(AFSError) -> KnowledgeEntry
    func deleteKnowledge(session: String?, key: String) throws(AFSError)
    func listKnowledge(session: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry]
    func undo(_ session: String, actor: String, since checkpointID: String?, context: MutationContext) throws(AFSError) -> UndoReport

    // MARK: Store

    func stats() throws(AFSError) -> StoreStats
    func collectGarbage() throws(AFSError) -> GCReport
    func verify() throws(AFSError) -> VerifyReport

    /// Releases what the transport holds (the store lock, connections).
    func close() throws(AFSError)
}

extension AetherService {
    /// Creates a session whose imported entries belong to whoever mounts it.
    public func createSession(
        name: String?, from source: SessionSource, context: MutationContext, progress: (@Sendable (ImportProgress) -> Void)?
    ) throws(AFSError) -> SessionInfo {
        try createSession(name: name, from: source, context: context, preserveOwners: false, progress: progress)
    }

    /// Sets the modification time alone.
    public func setTimes(_ session: String, path: String, mtime: Int64, context: MutationContext) throws(AFSError) {
        try setTimes(session, path: path, mtime: mtime, atime: nil, context: context)
    }

    /// A streamed write stamped with the time it happens.
    public func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, context: MutationContext) throws(AFSError) {
        try writeFile(session, path: path, from: fd, mode: mode, mtime: nil, context: context)
    }
}

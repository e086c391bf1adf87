import AFSCore

/// What a client can ask of AetherFS, whichever side of the network the store is on.
///
/// Two transports implement it: `AetherStore` (the embedded store, in process) and
/// ``RemoteStore`` (an `afs-server` over HTTP). `aether` runs one command set over either, and the
/// same test suite drives both, so a script written against a local store keeps working when
/// the store moves behind a server.
///
/// Every method is synchronous and throws `AFSError`: the remote transport maps the
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
    /// Every session, or only those in `status`, oldest first (by creation time, then ID); a server lists only the
    /// caller's tenant's.
    func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo]
    /// One session's record (name, status, source, root, commits); throws `.notFound` for an unknown ID.
    func session(_ id: String) throws(AFSError) -> SessionInfo
    /// A new session sharing the tree of `id` in O(1), its unfolded writes included; `.notFound` for an unknown `id`.
    func fork(_ id: String, name: String?, context: MutationContext) throws(AFSError) -> SessionInfo
    /// Records a restorable point of the session as it is now, with an optional `label`; `.conflict` if the session is archived.
    func checkpoint(_ id: String, label: String?, context: MutationContext) throws(AFSError) -> CheckpointInfo
    /// The session's checkpoints, oldest first; `.notFound` if the session does not exist.
    func checkpoints(of session: String) throws(AFSError) -> [CheckpointInfo]
    /// Puts the session's tree back to checkpoint `checkpointID`, discarding later writes; `.notFound` for an unknown
    /// checkpoint, `.invalidArgument` for one of another session.
    func restore(_ id: String, checkpoint checkpointID: String, context: MutationContext) throws(AFSError)
    /// Records the session's tree as an immutable commit whose parent is its previous commit (or base); `.invalidArgument`
    /// for an empty `message` or `author`. A nil `context` records `author` as the actor.
    func commit(_ id: String, message: String, author: String, context: MutationContext?) throws(AFSError) -> CommitInfo
    /// Moves `ref` to the session's latest commit (create, fast-forward or three-way merge). Merge conflicts are an answer
    /// (outcome `.conflicted`, ref unchanged), not an error; `.conflict` without a commit, `.forbidden` without enough approvals.
    func promote(_ id: String, ref: String, context: MutationContext) throws(AFSError) -> PromoteResult
    /// What changed from `other` (a session, checkpoint, commit, ref or snapshot) to session `id`.
    func diff(_ id: String, against other: String) throws(AFSError) -> [DiffEntry]
    /// Every entry but directories (files, symlinks, special files) with kind, size, mode, owner and content ID, in path order.
    func manifest(_ id: String) throws(AFSError) -> [ManifestEntry]
    /// Makes the session read-only: it can still be read, forked and exported, but writes fail with `.conflict`.
    func archive(_ id: String, context: MutationContext) throws(AFSError)
    /// Deletes the session with its checkpoints and coordination data; its space returns at the next garbage collection.
    /// `.notFound` for an unknown ID.
    func delete(_ id: String) throws(AFSError)
    /// Streams the session as a tar archive into `fd` (a file, a pipe or stdout).
    func exportTar(_ id: String, to fd: Int32) throws(AFSError)
    /// Names the session's current tree `name`, a template new sessions can start from; `.alreadyExists` if the name is taken.
    func createSnapshot(of id: String, name: String) throws(AFSError) -> SnapshotInfo
    /// Every named snapshot, sorted by name (on a server, those of the caller's tenant's sessions; all for the store admin).
    func snapshots() throws(AFSError) -> [SnapshotInfo]
    /// Every ref with the commit it points to, sorted by name.
    func refs() throws(AFSError) -> [RefInfo]
    /// The commits reachable from a ref or commit, newest first (`AetherStore.log(_:limit:skip:)`).
    func log(_ start: String, limit: Int, skip: Int) throws(AFSError) -> [CommitInfo]
    /// One commit by its ID.
    func commit(id: String) throws(AFSError) -> CommitInfo
    /// Requires `n` approvals (0…100; 0 removes the requirement) before any session is promoted into `ref`. Needs an admin
    /// token on a server.
    func setRefPolicy(_ ref: String, requiredApprovals n: Int) throws(AFSError)

    // MARK: Files

    /// Kind, mode, size, owner, times (nanoseconds since 1970), xattr names and content ID of an entry; `.notFound` if it
    /// does not exist, `.invalidPath` for a malformed path.
    func stat(_ session: String, path: String) throws(AFSError) -> FileStat
    /// A file's bytes, whole or up to `length` from `offset`, held in memory (`copyFile` streams); reading at or past the end
    /// returns none. `.notFound` if missing, `.wrongKind` if not a regular file.
    func readFile(_ session: String, path: String, offset: UInt64, length: UInt64?) throws(AFSError) -> [UInt8]
    /// The entries of one directory (not recursive), sorted by name; `.notFound` if missing, `.wrongKind` if not a directory.
    func list(_ session: String, path: String) throws(AFSError) -> [DirectoryEntry]
    /// Every entry below a directory with its full path, depth first, as one consistent snapshot: one call where a walk of
    /// `list` is one per directory. More than `limit` entries (nil: no limit) is `.invalidArgument`, found after reading at
    /// most `limit + 1` of them.
    func listTree(_ session: String, path: String, limit: Int?) throws(AFSError) -> [TreeEntry]
    /// Streams a file into `fd` without holding it in memory.
    func copyFile(_ session: String, path: String, to fd: Int32) throws(AFSError)
    /// Reads many files in one call (one request remote): `each` gets the regular files among
    /// `paths` in the order given, all from one version of the session; a path that names nothing
    /// or no regular file is left out. At most `AetherStore.readFilesLimit` paths; one malformed
    /// path fails the call (`.invalidPath`) before any file arrives. An error `each` throws ends
    /// the read and is rethrown.
    func readFiles(_ session: String, paths: [String], each: (BatchedFile) throws(AFSError) -> Void) throws(AFSError)
    /// Creates or replaces a file with `data`, creating missing parents; a replaced file keeps its owner, xattrs and (with
    /// `mode` nil) its mode, a new one gets 0644. Durable on return.
    func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32?, context: MutationContext) throws(AFSError)
    /// Writes a file from everything `fd` yields (a pipe or a file), streamed: any size, flat memory.
    /// The file changes only once the whole content arrived. `mtime` (nanoseconds since 1970)
    /// records that modification time in the same durable write; nil records the time of the write.
    /// `ctime` is when the writer changed the file (a mount publishing a file after `stat` showed
    /// it changed): recorded as the change time unless later than the write; nil records the
    /// time of the write.
    func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, ctime: Int64?, context: MutationContext) throws(AFSError)
    /// Creates a directory; with `parents`, missing parents too and an existing directory is fine. Without it, `.alreadyExists`
    /// if the path exists and `.notFound` if the parent is missing.
    func makeDirectory(_ session: String, path: String, parents: Bool, mode: UInt32, context: MutationContext) throws(AFSError)
    /// Removes a file, symlink, special file or empty directory; a non-empty directory needs `recursive` (else `.notEmpty`).
    /// `.notFound` if missing; the session root cannot be removed (`.invalidPath`).
    func remove(_ session: String, path: String, recursive: Bool, context: MutationContext) throws(AFSError)
    /// Applies many directory creations, removals and small whole-file writes in order, with one
    /// durable wait (`AetherStore.apply(_:_:context:)`): one outcome per change.
    func apply(_ session: String, _ changes: [BatchChange], context: MutationContext) throws(AFSError) -> [BatchOutcome]
    /// Moves an entry, replacing a file at `to` (a directory only by a directory, and only if empty); directories move in
    /// O(depth). `.notFound` if `from` or the destination's parent is missing.
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
    /// Sets one `user.` extended attribute (name up to 255 bytes, value up to 64 KiB, else `.invalidArgument`); `disposition`
    /// `.create` fails with `.alreadyExists` if it exists, `.replace` with `.notFound` if it does not.
    func setExtendedAttribute(
        _ session: String, path: String, name: String, value: [UInt8], disposition: AetherStore.XattrDisposition, context: MutationContext
    ) throws(AFSError)
    /// Removes one extended attribute from an entry; `.notFound` if it has none of that name.
    func removeExtendedAttribute(_ session: String, path: String, name: String, context: MutationContext) throws(AFSError)
    /// Gives the file at `existing` a second name `path` (a hard link; not for directories).
    func link(_ session: String, from existing: String, to path: String, context: MutationContext) throws(AFSError)
    /// Every name of the file at `path`, sorted (just `path` when it is not hard-linked).
    func hardLinks(_ session: String, path: String) throws(AFSError) -> [String]

    // MARK: Coordination

    /// Events after `seq`. With `wait > 0` the remote transport holds the request open until an
    /// event arrives or `wait` seconds pass; the embedded store answers at once.
    func changes(_ session: String, after seq: UInt64, limit: Int, wait: Double) throws(AFSError) -> [ChangeEvent]
    /// Publishes `payload` (a JSON document of at most 1 MiB, else `.invalidArgument`) on a session topic as `sender`;
    /// returns the message with its offset (dense per topic, from 1).
    func publish(_ session: String, topic: String, payload: String, sender: String) throws(AFSError) -> BusMessage
    /// A topic's messages from `offset` (inclusive), oldest first, at most `limit`. A positive `wait` long-polls on a server
    /// (whole seconds); the embedded store answers at once.
    func messages(_ session: String, topic: String, from offset: UInt64, limit: Int, wait: Double) throws(AFSError) -> [BusMessage]
    /// The session's bus topics that hold messages, sorted by name; `.notFound` for an unknown session.
    func topics(_ session: String) throws(AFSError) -> [String]
    /// Leases `path` (and everything below it with `prefix`) for `ttl` seconds (at most 86400), retrying for `wait` seconds
    /// before `.locked`. Pass the lease's token as `MutationContext.lockToken` to write under an exclusive lease.
    func acquireLease(
        _ session: String, path: String, exclusive: Bool, prefix: Bool, ttl: Double, holder: String, wait: Double
    ) throws(AFSError) -> Lease
    /// Extends a live lease of the session to `ttl` seconds from now; `.locked` once it expired or was released.
    func renewLease(_ session: String, token: UInt64, ttl: Double) throws(AFSError) -> Lease
    /// Ends a lease of the session at once; `.notFound` when the session has no live lease with that token.
    func releaseLease(_ session: String, token: UInt64) throws(AFSError)
    /// The session's unexpired leases, in grant order (by fencing token).
    func leases(_ session: String) throws(AFSError) -> [Lease]
    /// Attaches a note (`kind`, e.g. `note`; 1 byte to 1 MiB of text) by `author` to the session, a path, a line range of a
    /// path (lines from 1) or a commit; `.notFound` for an unknown commit.
    func annotate(
        _ session: String, path: String?, lines: ClosedRange<Int>?, commit: String?, kind: String, text: String, author: String
    ) throws(AFSError) -> Annotation
    /// The session's annotations, oldest first, filtered by whichever of `path` (and below it), `kind` and `author` is given.
    func annotations(_ session: String, path: String?, kind: String?, author: String?) throws(AFSError) -> [Annotation]
    /// The session's status with its review request and decisions so far (no reviewers and 0 required approvals when none
    /// was requested); `.notFound` for an unknown session.
    func review(_ session: String) throws(AFSError) -> ReviewState
    /// Asks `reviewers` (anyone when empty) for `requiredApprovals` (1…100) approvals; the session becomes pending-approval.
    /// A later write returns it to active and drops the decisions.
    func requestReview(_ session: String, reviewers: [String], requiredApprovals: Int, context: MutationContext) throws(AFSError) -> ReviewState
    /// Records `reviewer`'s approval or rejection: one rejection rejects, enough approvals approve. `.conflict` without an open
    /// review, `.forbidden` if `reviewer` is not among the named reviewers.
    func decide(_ session: String, approve: Bool, comment: String, reviewer: String) throws(AFSError) -> ReviewState
    /// Stores `value` (a JSON document of at most 1 MiB) under `key` with `tags`, replacing any entry there, in the session's
    /// scope or store-wide when `session` is nil (tenant-wide on a server).
    func putKnowledge(session: String?, key: String, value: String, tags: [String], author: String) throws(AFSError) -> KnowledgeEntry
    /// The entry at `key` in the session's scope (store-wide when `session` is nil); `.notFound` when there is none.
    func knowledge(session: String?, key: String) throws(AFSError) -> KnowledgeEntry
    /// Deletes the entry at `key` from the session's scope (store-wide when `session` is nil); `.notFound` when there was none.
    func deleteKnowledge(session: String?, key: String) throws(AFSError)
    /// Entries of exactly one scope (store-wide when `session` is nil), sorted by key, limited to keys starting with `prefix`
    /// and to entries carrying `tag` when given.
    func listKnowledge(session: String?, prefix: String?, tag: String?) throws(AFSError) -> [KnowledgeEntry]
    /// Reverts every path `actor` changed since `checkpointID` (nil: the latest checkpoint; `.conflict` if there is none) to
    /// its content then; paths someone else changed afterwards are skipped and reported.
    func undo(_ session: String, actor: String, since checkpointID: String?, context: MutationContext) throws(AFSError) -> UndoReport

    // MARK: Store

    /// Space accounting: logical, physical and disk bytes, chunks, sessions and dedup ratio. Needs the server's admin token
    /// on a server.
    func stats() throws(AFSError) -> StoreStats
    /// Frees the space of deleted sessions and unreachable data; safe while the store is in use. Needs the server's admin
    /// token on a server.
    func collectGarbage() throws(AFSError) -> GCReport
    /// Reads and checks every record, the index and every live tree; problems are reported (by segment and offset), not
    /// thrown. Needs the server's admin token on a server.
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
        try writeFile(session, path: path, from: fd, mode: mode, mtime: nil, ctime: nil, context: context)
    }

    /// A streamed write that records `mtime` and changes the file at the time of the write.
    public func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, context: MutationContext) throws(AFSError) {
        try writeFile(session, path: path, from: fd, mode: mode, mtime: mtime, ctime: nil, context: context)
    }
}

import Foundation

extension AetherStore {
    // MARK: Creating

    /// Creates a session from a source. Imports run before the session exists, so a failed or
    /// refused import (hostile paths, a bad archive) leaves no session behind.
    ///
    /// Imports from a directory or tar keep modes, times, special files and `user.` extended
    /// attributes; numeric owners only with `preserveOwners` (as `tar --same-owner`): without it
    /// the entries belong to whoever mounts the session. The session belongs to `context.tenant`
    /// (``SessionInfo/tenant``), recorded in the same transaction.
    public func createSession(
        name: String? = nil, from source: SessionSource, context: MutationContext = .anonymous, preserveOwners: Bool = false,
        progress: (@Sendable (ImportProgress) -> Void)? = nil
    ) throws(AFSError) -> SessionInfo {
        try validateName(name)
        return try gate.withReadLock { () throws(AFSError) -> SessionInfo in
            var parent: String?
            var baseCommit: String?
            let root: ChunkID
            let description: String
            switch source {
            case .blank:
                root = nodes.emptyRoot
                description = "blank"
            case .directory(let path):
                root = try DirectoryImporter(store: self, progress: progress, preserveOwners: preserveOwners).importTree(at: path)
                description = "directory:\(path)"
            case .tar(let path):
                root = try TarImporter(store: self, progress: progress, preserveOwners: preserveOwners).importArchive(at: path)
                description = "tar:\(path)"
            case .tarDescriptor(let fd):
                root = try TarImporter(store: self, progress: progress, preserveOwners: preserveOwners).importStream(fd: fd)
                description = "tar:upload"
            case .git(let repository, let ref):
                let imported = try GitImporter(store: self, progress: progress).importCommit(repository: repository, ref: ref)
                root = imported.root
                description = "git:\(repository)@\(ref) (\(imported.commit))"
            case .session(let id):
                return try forkUnlocked(id, name: name, context: context)
            case .checkpoint(let id):
                guard let c = try catalog.checkpoint(id) else { throw AFSError.notFound("checkpoint \(id) does not exist") }
                root = c.root
                parent = c.sessionID
                description = "checkpoint:\(id)"
            case .commit(let id):
                guard let c = try catalog.commit(id) else { throw AFSError.notFound("commit \(id) does not exist") }
                root = c.root
                baseCommit = c.id
                description = "commit:\(id)"
            case .snapshot(let snapshotName):
                guard let s = try catalog.snapshot(snapshotName) else { throw AFSError.notFound("snapshot \(snapshotName) does not exist") }
                root = s.root
                description = "snapshot:\(snapshotName)"
            }
            try log.sync()
            let now = Date()
            let info = SessionInfo(
                id: AetherStore.newID(prefix: "ses_"), name: name, status: .active, parentID: parent, source: description,
                root: root, baseCommit: baseCommit, headCommit: nil, createdAt: now, updatedAt: now, journalGeneration: 0,
                tenant: context.tenant)
            try catalog.insertSession(info, events: [creationEvent(info, context)])
            notifier.notify()
            return info
        }
    }

    /// The first event of a new session.
    private func creationEvent(_ info: SessionInfo, _ context: MutationContext) -> ChangeEvent {
        ChangeEvent(
            seq: 1, session: info.id, kind: .create, path: "", size: nil, contentID: nil, actor: context.actor,
            time: AetherStore.now(), detail: info.source)
    }

    private func validateName(_ name: String?) throws(AFSError) {
        guard let name else { return }
        guard !name.isEmpty, name.utf8.count <= 200, !name.utf8.contains(where: { $0 < 0x20 }) else {
            throw AFSError.invalidArgument("a name must be 1…200 printable characters")
        }
    }

    /// A new session with the same tree: one catalog record, no per-file work. The source's unfolded
    /// writes are folded first so the fork sees them. The fork belongs to `context.tenant`
    /// (``SessionInfo/tenant``), recorded in the fork's one transaction.
    public func fork(_ id: String, name: String? = nil, context: MutationContext = .anonymous) throws(AFSError) -> SessionInfo {
        try validateName(name)
        return try gate.withReadLock { () throws(AFSError) in try forkUnlocked(id, name: name, context: context) }
    }

    private func forkUnlocked(_ id: String, name: String?, context: MutationContext) throws(AFSError) -> SessionInfo {
        let source = try liveSession(id)
        return try source.withLock { () throws(AFSError) -> SessionInfo in
            try fold(source)
            let now = Date()
            let info = SessionInfo(
                id: AetherStore.newID(prefix: "ses_"), name: name, status: .active, parentID: id, source: "session:\(id)",
                root: source.info.root, baseCommit: source.info.headCommit ?? source.info.baseCommit, headCommit: nil,
                createdAt: now, updatedAt: now, journalGeneration: 0, tenant: context.tenant)
            // One transaction: the new session, its first event and the parent's fork event.
            let forkEvent = makeEvent(source, .fork, "", context, detail: info.id)
            do throws(AFSError) {
                try catalog.insertSession(info, events: [forkEvent, creationEvent(info, context)])
            } catch {
                source.lastSeq -= 1  // the event was never recorded: keep the feed dense
                throw error
            }
            try afterEvent(source, forkEvent)
            return info
        }
    }

    // MARK: Reading the catalog

    /// A session's record, taken from memory while the session is open so it is current;
    /// throws `notFound` for an unknown ID.
    public func session(_ id: String) throws(AFSError) -> SessionInfo {
        if let s = live.withLock({ $0[id] }) { return s.lock.withLock { s.info } }
        guard let info = try catalog.session(id) else { throw AFSError.notFound("session \(id) does not exist") }
        return info
    }

    /// Every session, or only those with `status`, oldest first (by creation time, then ID).
    public func sessions(status: SessionStatus? = nil) throws(AFSError) -> [SessionInfo] {
        try catalog.sessions(status: status)
    }

    /// The checkpoints of a session, oldest first; throws `notFound` if the session does not exist.
    public func checkpoints(of session: String) throws(AFSError) -> [CheckpointInfo] {
        _ = try self.session(session)
        return try catalog.checkpoints(session: session)
    }

    /// A commit by its 64-hex-digit ID; throws `notFound` if there is none.
    public func commit(id: String) throws(AFSError) -> CommitInfo {
        guard let c = try catalog.commit(id) else { throw AFSError.notFound("commit \(id) does not exist") }
        return c
    }

    /// Every ref (a named pointer to a commit, moved by `promote`), sorted by name.
    public func refs() throws(AFSError) -> [RefInfo] { try catalog.refs() }

    /// A ref by name; throws `notFound` if it does not exist.
    public func ref(_ name: String) throws(AFSError) -> RefInfo {
        guard let r = try catalog.ref(name) else { throw AFSError.notFound("ref \(name) does not exist") }
        return r
    }

    /// Every named snapshot, sorted by name.
    public func snapshots() throws(AFSError) -> [SnapshotInfo] { try catalog.snapshots() }

    // MARK: Checkpoints

    /// A restorable point of the session as it is now (unfolded writes included).
    public func checkpoint(_ id: String, label: String? = nil, context: MutationContext = .anonymous) throws(AFSError) -> CheckpointInfo {
        try mutate(id, context) { (s) throws(AFSError) in
            try fold(s)
            let checkpointID = AetherStore.newID(prefix: "ckp_")
            try recordEvent(s, .checkpoint, "", context, detail: checkpointID)
            let c = CheckpointInfo(
                id: checkpointID, sessionID: id, root: s.info.root, label: label, createdAt: Date(), changeSeq: s.lastSeq)
            try catalog.insertCheckpoint(c)
            return c
        }
    }

    /// Puts the session's tree back to a checkpoint; writes since then are discarded.
    public func restore(_ id: String, checkpoint checkpointID: String, context: MutationContext = .anonymous) throws(AFSError) {
        guard let c = try catalog.checkpoint(checkpointID) else { throw AFSError.notFound("checkpoint \(checkpointID) does not exist") }
        guard c.sessionID == id else {
            throw AFSError.invalidArgument("checkpoint \(checkpointID) belongs to session \(c.sessionID); create a session from it instead")
        }
        try mutate(id, context, [SessionPath.root]) { (s) throws(AFSError) in
            try replaceRoot(s, with: c.root)
            try markActive(s)
            try recordEvent(s, .restore, "", context, detail: checkpointID)
        }
    }

    // MARK: Commits and refs

    /// Records the session's tree as an immutable commit whose parent is the session's previous
    /// commit (or the commit it started from).
    public func commit(_ id: String, message: String, author: String, context: MutationContext? = nil) throws(AFSError) -> CommitInfo {
        let context = context ?? MutationContext(actor: author)
        guard !message.isEmpty else { throw AFSError.invalidArgument("a commit needs a message") }
        guard !author.isEmpty else { throw AFSError.invalidArgument("a commit needs an author") }
        return try mutate(id, context) { (s) throws(AFSError) in
            try fold(s)
            let parents = [s.info.headCommit ?? s.info.baseCommit].compactMap { $0 }
            let commit = try makeCommit(root: s.info.root, parents: parents, message: message, author: author, session: id)
            var info = s.info
            info.headCommit = commit.id
            if info.status == .active { info.status = .committed }
            info.updatedAt = Date()
            try catalog.updateSession(info)
            s.info = info
            try recordEvent(s, .commit, "", context, detail: commit.id)
            return commit
        }
    }

    func makeCommit(root: ChunkID, parents: [String], message: String, author: String, session: String?) throws(AFSError) -> CommitInfo {
        let now = Date()
        var w = BinaryWriter()
        w.u8(1)
        w.id(root)
        w.varint(parents.count)
        for p in parents { w.string(p) }
        w.string(message)
        w.string(author)
        w.svarint(Int64(now.timeIntervalSince1970 * 1000))
        let id = try log.put(.commit, w.bytes)
        try log.sync()
        let commit = CommitInfo(id: id.hex, root: root, parents: parents, message: message, author: author, createdAt: now, sessionID: session)
        try catalog.insertCommit(commit)
        return commit
    }

    /// Moves `ref` to the session's latest commit: creates it, fast-forwards it, or three-way merges
    /// when the ref moved since the session's base. On conflicts nothing changes and the paths are returned.
    public func promote(_ id: String, ref: String, context: MutationContext = .anonymous) throws(AFSError) -> PromoteResult {
        let result = try promoteUnrecorded(id, ref: ref, context: context)
        if result.outcome != .conflicted && result.outcome != .upToDate {
            try mutateAllowingArchived(id) { (s) throws(AFSError) in
                try recordEvent(s, .promote, "", context, detail: "\(ref) \(result.outcome.rawValue) \(result.commitID ?? "")")
            }
        }
        return result
    }

    private func promoteUnrecorded(_ id: String, ref: String, context: MutationContext) throws(AFSError) -> PromoteResult {
        guard !ref.isEmpty, ref.utf8.count <= 200, !ref.contains(" ") else { throw AFSError.invalidArgument("invalid ref name '\(ref)'") }
        let info = try session(id)
        guard let head = info.headCommit else {
            throw AFSError.conflict("session \(id) has no commit yet; run `aether session commit \(id) -m MSG` first")
        }
        // Policy: a ref may require approvals.
        let required = try coordination.refPolicy(ref: ref)
        if required > 0 {
            let approvals = try coordination.decisions(session: id).filter(\.approved).count
            guard info.status == .approved, approvals >= required else {
                throw AFSError(
                    .forbidden,
                    "ref \(ref) requires \(required) approval(s); session \(id) is \(info.status.rawValue) with \(approvals). Run `aether review request \(id)` and get it approved")
            }
        }
        // Leases: the paths this promote changes must not be under someone else's exclusive lease.
        let refRoot = try catalog.ref(ref).map { (r) throws(AFSError) in try commit(id: r.commitID).root } ?? nodes.emptyRoot
        let touched = try tree.diff(refRoot, try commit(id: head).root).map { SessionPath(validated: $0.path).description }
        try checkLeases(id, touched, context)
        for _ in 0..<8 {
            guard let current = try catalog.ref(ref) else {
                if try catalog.setRef(ref, to: head, expected: nil) {
                    return PromoteResult(ref: ref, outcome: .created, commitID: head, conflicts: [])
                }
                continue
            }
            let contained = try isAncestor(head, of: current.commitID)
            if current.commitID == head || contained {
                return PromoteResult(ref: ref, outcome: .upToDate, commitID: current.commitID, conflicts: [])
            }
            if try isAncestor(current.commitID, of: head) {
                if try catalog.setRef(ref, to: head, expected: current.commitID) {
                    return PromoteResult(ref: ref, outcome: .fastForward, commitID: head, conflicts: [])
                }
                continue
            }
            let ours = try commit(id: current.commitID)
            let theirs = try commit(id: head)
            let baseRoot: ChunkID
            if let base = try mergeBase(current.commitID, head) { baseRoot = try commit(id: base).root } else { baseRoot = nodes.emptyRoot }
            // Merge, commit and move the ref under the GC gate: the merged tree is new data that no
            // catalog root protects until the commit row exists.
            let outcome = try gate.withReadLock { () throws(AFSError) -> PromoteResult? in
                let merged = try tree.merge(base: baseRoot, ours: ours.root, theirs: theirs.root)
                if !merged.conflicts.isEmpty {
                    return PromoteResult(
                        ref: ref, outcome: .conflicted, commitID: current.commitID,
                        conflicts: merged.conflicts.map { SessionPath(validated: $0).description })
                }
                try log.sync()
                let mergeCommit = try makeCommit(
                    root: merged.root, parents: [current.commitID, head], message: "Merge session \(id) into \(ref)",
                    author: theirs.author, session: id)
                guard try catalog.setRef(ref, to: mergeCommit.id, expected: current.commitID) else { return nil }
                return PromoteResult(ref: ref, outcome: .merged, commitID: mergeCommit.id, conflicts: [])
            }
            if let outcome { return outcome }
        }
        throw AFSError.conflict("ref \(ref) kept moving while promoting; try again")
    }

    private func ancestors(of commitID: String) throws(AFSError) -> Set<String> {
        var seen: Set<String> = []
        var queue = [commitID]
        while let c = queue.popLast() {
            guard seen.insert(c).inserted, let info = try catalog.commit(c) else { continue }
            queue.append(contentsOf: info.parents)
        }
        return seen
    }

    func isAncestor(_ a: String, of b: String) throws(AFSError) -> Bool {
        try ancestors(of: b).contains(a)
    }

    /// The nearest common ancestor (breadth-first from `b` over `a`'s ancestors).
    func mergeBase(_ a: String, _ b: String) throws(AFSError) -> String? {
        let left = try ancestors(of: a)
        var queue = [b]
        var seen: Set<String> = []
        var i = 0
        while i < queue.count {
            let c = queue[i]
            i += 1
            if left.contains(c) { return c }
            guard seen.insert(c).inserted, let info = try catalog.commit(c) else { continue }
            queue.append(contentsOf: info.parents)
        }
        return nil
    }

    // MARK: Snapshots, archive, delete

    /// Names the session's current tree as a template that new sessions can start from.
    public func createSnapshot(of id: String, name: String) throws(AFSError) -> SnapshotInfo {
        try validateName(name)
        return try mutateAllowingArchived(id) { (s) throws(AFSError) in
            try fold(s)
            let snap = SnapshotInfo(name: name, root: s.info.root, sessionID: id, createdAt: Date())
            try catalog.insertSnapshot(snap)
            return snap
        }
    }

    /// Makes a session read-only (its data stays; it can still be read, forked and exported).
    public func archive(_ id: String, context: MutationContext = .anonymous) throws(AFSError) {
        try mutateAllowingArchived(id) { (s) throws(AFSError) in
            try fold(s)
            var info = s.info
            info.status = .archived
            info.updatedAt = Date()
            try catalog.updateSession(info)
            s.info = info
            try recordEvent(s, .archive, "", context)
        }
    }

    /// Records which tenant owns a session (``SessionInfo/tenant``), replacing any earlier one.
    /// New sessions get theirs from the context that creates or forks them; this is for sessions
    /// made before the catalog kept owners: a server moves its older ownership records in at
    /// start, before it serves. A session not open here has only its row rewritten (moving
    /// thousands of owners replays no journals); call it before other threads open sessions.
    public func setTenant(_ id: String, tenant: String?) throws(AFSError) {
        try gate.withReadLock { () throws(AFSError) in
            if let s = live.withLock({ $0[id] }) {
                try s.withLock { () throws(AFSError) in
                    var info = s.info
                    info.tenant = tenant
                    try catalog.updateSession(info)
                    s.info = info
                }
                return
            }
            guard var info = try catalog.session(id) else { throw AFSError.notFound("session \(id) does not exist") }
            info.tenant = tenant
            try catalog.updateSession(info)
        }
    }

    /// Deletes a session and its checkpoints. Its space comes back at the next GC.
    public func delete(_ id: String) throws(AFSError) {
        try gate.withReadLock { () throws(AFSError) in
            let s = try liveSession(id)
            try s.withLock { () throws(AFSError) in
                try catalog.deleteSession(id)
                try coordination.deleteCoordination(session: id)
                try? journals.remove(session: id, generation: s.journal.generation)
                s.clearOverlay()
            }
            _ = live.withLock { $0.removeValue(forKey: id) }
            ownership?.release(id)
        }
    }

    func mutateAllowingArchived<R>(_ id: String, _ body: (LiveSession) throws(AFSError) -> R) throws(AFSError) -> R {
        try gate.withReadLock { () throws(AFSError) -> R in
            let s = try liveSession(id)
            return try s.withLock { () throws(AFSError) -> R in try body(s) }
        }
    }

    // MARK: Diff and manifest

    /// The folded root a reference names (folding a session first so its latest writes count).
    func resolveRoot(_ reference: TreeReference) throws(AFSError) -> ChunkID {
        switch reference {
        case .session(let id):
            return try mutateAllowingArchived(id) { (s) throws(AFSError) in
                try fold(s)
                return s.info.root
            }
        case .checkpoint(let id):
            guard let c = try catalog.checkpoint(id) else { throw AFSError.notFound("checkpoint \(id) does not exist") }
            return c.root
        case .commit(let id):
            return try commit(id: id).root
        case .snapshot(let name):
            guard let s = try catalog.snapshot(name) else { throw AFSError.notFound("snapshot \(name) does not exist") }
            return s.root
        case .ref(let name):
            return try commit(id: try ref(name).commitID).root
        }
    }

    /// Parses an ID as the CLI and API accept it: `ses_…`, `ckp_…`, a 64-digit commit ID, or a ref or snapshot name.
    public func reference(named raw: String) throws(AFSError) -> TreeReference {
        if raw.hasPrefix("ses_") { return .session(raw) }
        if raw.hasPrefix("ckp_") { return .checkpoint(raw) }
        if ChunkID(hex: raw) != nil, try catalog.commit(raw) != nil { return .commit(raw) }
        if try catalog.ref(raw) != nil { return .ref(raw) }
        if try catalog.snapshot(raw) != nil { return .snapshot(raw) }
        throw AFSError.notFound("'\(raw)' is not a session, checkpoint, commit, ref or snapshot")
    }

    /// Paths that differ from `a` to `b`: added, modified (content, kind or mode), deleted.
    public func diff(_ a: TreeReference, _ b: TreeReference) throws(AFSError) -> [DiffEntry] {
        let ra = try resolveRoot(a)
        let rb = try resolveRoot(b)
        return try tree.diff(ra, rb).map { c in
            let path = SessionPath(validated: c.path).description
            switch (c.old, c.new) {
            case (nil, let n?): return DiffEntry(path: path, change: .added, kind: n.kind)
            case (let o?, nil): return DiffEntry(path: path, change: .deleted, kind: o.kind)
            case (_, let n?): return DiffEntry(path: path, change: .modified, kind: n.kind)
            case (nil, nil): return DiffEntry(path: path, change: .modified, kind: .file)
            }
        }
    }

    /// Every entry but directories (files, symlinks, FIFOs, sockets, device nodes) of a session,
    /// with size, mode, owner and content ID, in path order.
    public func manifest(_ id: String) throws(AFSError) -> [ManifestEntry] {
        let root = try resolveRoot(.session(id))
        var out: [ManifestEntry] = []
        try tree.walk(root) { path, v in
            let p = SessionPath(validated: path).description
            var entry: ManifestEntry
            switch v.content {
            case .directory: return
            case .symlink(let target):
                entry = ManifestEntry(path: p, kind: .symlink, size: v.size, mode: v.mode, contentID: nil, target: target)
            case .special(let rdev):
                entry = ManifestEntry(path: p, kind: v.kind, size: 0, mode: v.mode, contentID: nil, target: nil)
                if v.kind == .characterDevice || v.kind == .blockDevice { entry.rdev = rdev }
            default:
                entry = ManifestEntry(path: p, kind: .file, size: v.size, mode: v.mode, contentID: v.contentID?.hex, target: nil)
            }
            entry.uid = v.attributes.uid
            entry.gid = v.attributes.gid
            out.append(entry)
        }
        return out
    }
}

extension AetherStore {
    /// The session a checkpoint belongs to.
    public func checkpointOwner(_ checkpointID: String) throws(AFSError) -> String {
        guard let c = try catalog.checkpoint(checkpointID) else { throw AFSError.notFound("checkpoint \(checkpointID) does not exist") }
        return c.sessionID
    }
}

import AFSCore
import AFSSupport
import AFSWire
import Foundation
import Synchronization

extension RemoteStore {
    static func sessionPath(_ id: String, _ rest: String = "") -> String { "/v1/sessions/\(escape(id))\(rest)" }

    /// `POST /v1/sessions` for sources the server holds; `.tar`, `.tarDescriptor`, `.directory` and `.git`
    /// are read on this machine and streamed to `POST /v1/sessions/import` as tar (`progress` is never called).
    public func createSession(
        name: String?, from source: SessionSource, context: MutationContext, preserveOwners: Bool,
        progress: (@Sendable (ImportProgress) -> Void)?
    ) throws(AFSError) -> SessionInfo {
        func create(_ source: CreateSessionRequest.Source) throws(AFSError) -> SessionInfo {
            let body = CreateSessionRequest(name: name, source: source)
            return try json(SessionInfo.self, Call(.POST, "/v1/sessions", context: context), body: RemoteStore.jsonBody(body))
        }
        switch source {
        case .blank: return try create(.init(kind: .blank))
        case .session(let id): return try create(.init(kind: .session, id: id))
        case .checkpoint(let id): return try create(.init(kind: .checkpoint, id: id))
        case .commit(let id): return try create(.init(kind: .commit, id: id))
        case .snapshot(let n): return try create(.init(kind: .snapshot, name: n))
        case .tarDescriptor(let fd): return try upload(name: name, fd: fd, preserveOwners: preserveOwners, context: context)
        case .tar(let file):
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let err = errno
                throw AFSError(err == ENOENT ? .notFound : .io, "cannot open \(file): \(String(cString: strerror(err)))")
            }
            defer { Glibc.close(fd) }
            return try upload(name: name, fd: fd, preserveOwners: preserveOwners, context: context)
        case .directory(let dir):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw AFSError(.notFound, "\(dir) is not a directory")
            }
            return try uploadArchive(of: dir, name: name, preserveOwners: preserveOwners, context: context)
        case .git(let repo, let ref):
            return try uploadOutput(
                of: "/usr/bin/env", ["git", "-C", repo, "archive", "--format=tar", ref], name: name, preserveOwners: false, context: context)
        }
    }

    /// Streams a tar archive from `fd` to `POST /v1/sessions/import`.
    func upload(name: String?, fd: Int32, preserveOwners: Bool = false, context: MutationContext) throws(AFSError) -> SessionInfo {
        var query: [(String, String)] = []
        if let name { query.append(("name", name)) }
        if preserveOwners { query.append(("same_owner", "true")) }
        return try json(
            SessionInfo.self, Call(.POST, "/v1/sessions/import", query: query, context: context),
            body: .descriptor(fd, contentType: "application/x-tar"))
    }

    /// Runs a program that writes a tar archive to stdout and uploads what it writes. If the program
    /// fails, the session made from its (then incomplete) output is deleted and its error reported.
    /// Streams ``DirectoryArchive``'s archive of `directory` to the import through a pipe (never
    /// stored whole): every kind a directory holds, sockets included, with owners, hard links
    /// and `user.` xattrs, exactly as the embedded store's import reads them.
    func uploadArchive(of directory: String, name: String?, preserveOwners: Bool, context: MutationContext) throws(AFSError) -> SessionInfo {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw AFSError(.io, "cannot create a pipe to archive \(directory): errno \(errno)") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let archived = Locked<Result<Void, AFSError>?>(nil)
        let writer = Thread {
            // A reader that gave up makes the next write fail with EPIPE on this thread, instead
            // of a SIGPIPE that would end the whole process.
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            let result: Result<Void, AFSError>
            do throws(AFSError) { try DirectoryArchive.write(directory, to: writeEnd); result = .success(()) } catch { result = .failure(error) }
            // The reader sees the end of the archive (or a short one, which the server refuses).
            Glibc.close(writeEnd)
            archived.withLock { $0 = result }
        }
        writer.start()
        let result: Result<SessionInfo, AFSError>
        do { result = .success(try upload(name: name, fd: readEnd, preserveOwners: preserveOwners, context: context)) } catch {
            result = .failure(error)
        }
        // Unblocks a writer still waiting on a reader that gave up.
        Glibc.close(readEnd)
        while archived.withLock({ $0 == nil }) { Thread.sleep(forTimeInterval: 0.002) }
        if case .failure(let error)? = archived.withLock({ $0 }) {
            if case .success(let info) = result { try? delete(info.id) }
            throw error
        }
        return try result.get()
    }

    func uploadOutput(
        of tool: String, _ arguments: [String], name: String?, preserveOwners: Bool = false, context: MutationContext
    ) throws(AFSError) -> SessionInfo {
        var command = Command(tool, arguments)
        command.stdout = .pipe
        command.stderr = .capture
        let process: Command.Running
        do { process = try command.spawn() } catch {
            throw AFSError(.externalTool, "cannot run \(arguments.first ?? tool): \(error)")
        }
        let output = process.stdout!
        let result: Result<SessionInfo, AFSError>
        do { result = .success(try upload(name: name, fd: output, preserveOwners: preserveOwners, context: context)) } catch {
            result = .failure(error)
        }
        // Closing our end stops a tool still writing (EPIPE); a failed upload also ends it at once.
        Glibc.close(output)
        if case .failure = result { process.terminate() }
        let status: Int32
        do { status = try process.wait() } catch { throw AFSError(.externalTool, "\(error)") }
        let stderr = String(decoding: process.captured(.standardError), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0 else {
            if case .success(let info) = result { try? delete(info.id) }
            throw AFSError(.externalTool, "\(arguments.prefix(2).joined(separator: " ")) failed (exit \(status)): \(stderr)")
        }
        return try result.get()
    }

    /// `GET /v1/sessions`: the caller's sessions, only those in `status` when given.
    public func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo] {
        try json([SessionInfo].self, Call(.GET, "/v1/sessions", query: status.map { [("status", $0.rawValue)] } ?? []))
    }

    /// `GET /v1/sessions/{id}`: one session; `.notFound` when it does not exist.
    public func session(_ id: String) throws(AFSError) -> SessionInfo {
        try json(SessionInfo.self, Call(.GET, RemoteStore.sessionPath(id)))
    }

    /// `POST /v1/sessions/{id}/fork`: a new session sharing the tree of `id` (O(1) on the server).
    public func fork(_ id: String, name: String?, context: MutationContext) throws(AFSError) -> SessionInfo {
        try json(
            SessionInfo.self, Call(.POST, RemoteStore.sessionPath(id, "/fork"), context: context),
            body: RemoteStore.jsonBody(ForkRequest(name: name)))
    }

    /// `POST /v1/sessions/{id}/checkpoints`: records the session's current tree, with an optional `label`.
    public func checkpoint(_ id: String, label: String?, context: MutationContext) throws(AFSError) -> CheckpointInfo {
        try json(
            CheckpointInfo.self, Call(.POST, RemoteStore.sessionPath(id, "/checkpoints"), context: context),
            body: RemoteStore.jsonBody(CheckpointRequest(label: label)))
    }

    /// `GET /v1/sessions/{id}/checkpoints`: the session's checkpoints, oldest first.
    public func checkpoints(of session: String) throws(AFSError) -> [CheckpointInfo] {
        try json([CheckpointInfo].self, Call(.GET, RemoteStore.sessionPath(session, "/checkpoints")))
    }

    /// `POST /v1/sessions/{id}/restore`: resets the session's tree to the checkpoint `checkpointID`.
    public func restore(_ id: String, checkpoint checkpointID: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(id, "/restore"), context: context), body: RemoteStore.jsonBody(RestoreRequest(checkpoint: checkpointID)))
    }

    /// `POST /v1/sessions/{id}/commits`: commits the session's tree with `message` and `author`.
    public func commit(_ id: String, message: String, author: String, context: MutationContext?) throws(AFSError) -> CommitInfo {
        try json(
            CommitInfo.self, Call(.POST, RemoteStore.sessionPath(id, "/commits"), context: context),
            body: RemoteStore.jsonBody(CommitRequest(message: message, author: author)))
    }

    /// A conflicted promote is an answer, not a failure: the server says 409 with the result.
    public func promote(_ id: String, ref: String, context: MutationContext) throws(AFSError) -> PromoteResult {
        let call = Call(.POST, RemoteStore.sessionPath(id, "/promote"), context: context)
        let reply = try send(call, body: RemoteStore.jsonBody(PromoteRequest(ref: ref)), accept: [409])
        if reply.status == 409, (try? RemoteStore.decoder.decode(PromoteResult.self, from: reply.body)) == nil {
            throw RemoteStore.error(from: reply, call: call)
        }
        return try RemoteStore.decode(PromoteResult.self, reply.body, call: call)
    }

    /// `GET /v1/sessions/{id}/diff?against=`: what changed from `other` (session, checkpoint, commit,
    /// ref or snapshot) to session `id`.
    public func diff(_ id: String, against other: String) throws(AFSError) -> [DiffEntry] {
        try json([DiffEntry].self, Call(.GET, RemoteStore.sessionPath(id, "/diff"), query: [("against", other)]))
    }

    /// `GET /v1/sessions/{id}/manifest`: every non-directory entry with its kind, size, mode, owner and content ID.
    public func manifest(_ id: String) throws(AFSError) -> [ManifestEntry] {
        try json([ManifestEntry].self, Call(.GET, RemoteStore.sessionPath(id, "/manifest")))
    }

    /// `POST /v1/sessions/{id}/archive`: makes the session read-only.
    public func archive(_ id: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(id, "/archive"), context: context))
    }

    /// `DELETE /v1/sessions/{id}`: deletes the session; its space returns at the next garbage collection.
    public func delete(_ id: String) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.sessionPath(id)))
    }

    /// `GET /v1/sessions/{id}/export`: streams the session as a tar archive into `fd`.
    public func exportTar(_ id: String, to fd: Int32) throws(AFSError) {
        try download(Call(.GET, RemoteStore.sessionPath(id, "/export")), to: fd)
    }

    /// `POST /v1/snapshots`: names the session's current tree `name`, to start sessions from.
    public func createSnapshot(of id: String, name: String) throws(AFSError) -> SnapshotInfo {
        try json(SnapshotInfo.self, Call(.POST, "/v1/snapshots"), body: RemoteStore.jsonBody(SnapshotRequest(session: id, name: name)))
    }

    /// `GET /v1/snapshots`: the snapshots the caller can see.
    public func snapshots() throws(AFSError) -> [SnapshotInfo] {
        try json([SnapshotInfo].self, Call(.GET, "/v1/snapshots"))
    }

    /// `GET /v1/refs`: every ref with the commit it points to.
    public func refs() throws(AFSError) -> [RefInfo] {
        try json([RefInfo].self, Call(.GET, "/v1/refs"))
    }

    /// `GET /v1/refs/{start}/log`: commits reachable from `start` (a ref or commit), newest first,
    /// skipping `skip` and returning at most `limit`.
    public func log(_ start: String, limit: Int, skip: Int) throws(AFSError) -> [CommitInfo] {
        try json(
            [CommitInfo].self, Call(.GET, "/v1/refs/\(RemoteStore.escape(start))/log", query: [("limit", String(limit)), ("skip", String(skip))]))
    }

    /// `GET /v1/commits/{id}`: one commit; `.notFound` when there is none with that ID.
    public func commit(id: String) throws(AFSError) -> CommitInfo {
        try json(CommitInfo.self, Call(.GET, "/v1/commits/\(RemoteStore.escape(id))"))
    }

    /// `PUT /v1/refs/{ref}/policy`: requires `n` approvals before a promote into `ref` (admin token needed).
    public func setRefPolicy(_ ref: String, requiredApprovals n: Int) throws(AFSError) {
        _ = try send(Call(.PUT, "/v1/refs/\(RemoteStore.escape(ref))/policy"), body: RemoteStore.jsonBody(RefPolicyRequest(requiredApprovals: n)))
    }

    // MARK: Store (admin)

    /// `GET /v1/store/stats`: space accounting of the server's store (admin token needed).
    public func stats() throws(AFSError) -> StoreStats { try json(StoreStats.self, Call(.GET, "/v1/store/stats")) }
    /// `POST /v1/store/gc`: runs a garbage collection on the server (admin token needed).
    public func collectGarbage() throws(AFSError) -> GCReport { try json(GCReport.self, Call(.POST, "/v1/store/gc")) }
    /// `POST /v1/store/verify`: checks every record and session tree on the server (admin token needed).
    public func verify() throws(AFSError) -> VerifyReport { try json(VerifyReport.self, Call(.POST, "/v1/store/verify")) }
}

import AFSCore
import AFSSupport
import AFSWire
import Foundation
import Synchronization

extension RemoteStore {
    static func sessionPath(_ id: String, _ rest: String = "") -> String { "/v1/sessions/\(escape(id))\(rest)" }

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
        let archived = Mutex<Result<Void, AFSError>?>(nil)
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

    public func sessions(status: SessionStatus?) throws(AFSError) -> [SessionInfo] {
        try json([SessionInfo].self, Call(.GET, "/v1/sessions", query: status.map { [("status", $0.rawValue)] } ?? []))
    }

    public func session(_ id: String) throws(AFSError) -> SessionInfo {
        try json(SessionInfo.self, Call(.GET, RemoteStore.sessionPath(id)))
    }

    public func fork(_ id: String, name: String?, context: MutationContext) throws(AFSError) -> SessionInfo {
        try json(
            SessionInfo.self, Call(.POST, RemoteStore.sessionPath(id, "/fork"), context: context),
            body: RemoteStore.jsonBody(ForkRequest(name: name)))
    }

    public func checkpoint(_ id: String, label: String?, context: MutationContext) throws(AFSError) -> CheckpointInfo {
        try json(
            CheckpointInfo.self, Call(.POST, RemoteStore.sessionPath(id, "/checkpoints"), context: context),
            body: RemoteStore.jsonBody(CheckpointRequest(label: label)))
    }

    public func checkpoints(of session: String) throws(AFSError) -> [CheckpointInfo] {
        try json([CheckpointInfo].self, Call(.GET, RemoteStore.sessionPath(session, "/checkpoints")))
    }

    public func restore(_ id: String, checkpoint checkpointID: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(id, "/restore"), context: context), body: RemoteStore.jsonBody(RestoreRequest(checkpoint: checkpointID)))
    }

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

    public func diff(_ id: String, against other: String) throws(AFSError) -> [DiffEntry] {
        try json([DiffEntry].self, Call(.GET, RemoteStore.sessionPath(id, "/diff"), query: [("against", other)]))
    }

    public func manifest(_ id: String) throws(AFSError) -> [ManifestEntry] {
        try json([ManifestEntry].self, Call(.GET, RemoteStore.sessionPath(id, "/manifest")))
    }

    public func archive(_ id: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(id, "/archive"), context: context))
    }

    public func delete(_ id: String) throws(AFSError) {
        _ = try send(Call(.DELETE, RemoteStore.sessionPath(id)))
    }

    public func exportTar(_ id: String, to fd: Int32) throws(AFSError) {
        try download(Call(.GET, RemoteStore.sessionPath(id, "/export")), to: fd)
    }

    public func createSnapshot(of id: String, name: String) throws(AFSError) -> SnapshotInfo {
        try json(SnapshotInfo.self, Call(.POST, "/v1/snapshots"), body: RemoteStore.jsonBody(SnapshotRequest(session: id, name: name)))
    }

    public func snapshots() throws(AFSError) -> [SnapshotInfo] {
        try json([SnapshotInfo].self, Call(.GET, "/v1/snapshots"))
    }

    public func refs() throws(AFSError) -> [RefInfo] {
        try json([RefInfo].self, Call(.GET, "/v1/refs"))
    }

    public func log(_ start: String, limit: Int, skip: Int) throws(AFSError) -> [CommitInfo] {
        try json(
            [CommitInfo].self, Call(.GET, "/v1/refs/\(RemoteStore.escape(start))/log", query: [("limit", String(limit)), ("skip", String(skip))]))
    }

    public func commit(id: String) throws(AFSError) -> CommitInfo {
        try json(CommitInfo.self, Call(.GET, "/v1/commits/\(RemoteStore.escape(id))"))
    }

    public func setRefPolicy(_ ref: String, requiredApprovals n: Int) throws(AFSError) {
        _ = try send(Call(.PUT, "/v1/refs/\(RemoteStore.escape(ref))/policy"), body: RemoteStore.jsonBody(RefPolicyRequest(requiredApprovals: n)))
    }

    // MARK: Store (admin)

    public func stats() throws(AFSError) -> StoreStats { try json(StoreStats.self, Call(.GET, "/v1/store/stats")) }
    public func collectGarbage() throws(AFSError) -> GCReport { try json(GCReport.self, Call(.POST, "/v1/store/gc")) }
    public func verify() throws(AFSError) -> VerifyReport { try json(VerifyReport.self, Call(.POST, "/v1/store/verify")) }
}

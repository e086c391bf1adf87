import AFSGRPC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import AFSTestSupport
import Testing

/// The gRPC services end to end: the real `afs-server` process on free loopback ports, driven by
/// the generated clients over plaintext HTTP/2.
@Suite(.serialized, .offCooperativePool) struct GRPCTests {
    /// One connection and a client per service.
    struct Clients: Sendable {
        let sessions: Aether_V1_Sessions.Client<HTTP2ClientTransport.Posix>
        let files: Aether_V1_Files.Client<HTTP2ClientTransport.Posix>
        let coordination: Aether_V1_Coordination.Client<HTTP2ClientTransport.Posix>
        let service: Aether_V1_Service.Client<HTTP2ClientTransport.Posix>
        let reflection: Grpc_Reflection_V1_ServerReflection.Client<HTTP2ClientTransport.Posix>
        let reflectionAlpha: Grpc_Reflection_V1alpha_ServerReflection.Client<HTTP2ClientTransport.Posix>
        let health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>
        let workspaces: Aether_V1_Workspaces.Client<HTTP2ClientTransport.Posix>
    }

    func withClients<R: Sendable>(_ server: ServerHarness, _ body: (Clients) async throws -> R) async throws -> R {
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: server.grpcPort),
                transportSecurity: server.caCertificate.map { ca in .tls { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) } } ?? .plaintext)
        ) { client in
            try await body(
                Clients(
                    sessions: .init(wrapping: client), files: .init(wrapping: client), coordination: .init(wrapping: client),
                    service: .init(wrapping: client), reflection: .init(wrapping: client), reflectionAlpha: .init(wrapping: client),
                    health: .init(wrapping: client), workspaces: .init(wrapping: client)))
        }
    }

    static func auth(_ token: String) -> Metadata { ["authorization": "Bearer \(token)"] }

    /// The status code a call fails with (nil when it succeeds).
    static func code(_ body: () async throws -> Void) async -> RPCError.Code? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error.code
        } catch {
            Issue.record("not an RPCError: \(error)")
            return nil
        }
    }

    static func blank(_ clients: Clients, _ metadata: Metadata, name: String? = nil) async throws -> Aether_V1_Session {
        var request = Aether_V1_CreateSessionRequest()
        request.source.blank = .init()
        if let name { request.name = name }
        return try await clients.sessions.create(request, metadata: metadata)
    }

    /// Streams `pieces` as one file through the client-streaming Write.
    @discardableResult
    static func write(
        _ clients: Clients, _ metadata: Metadata, session: String, path: String, pieces: [Data], ifMatch: String? = nil, ctime: Int64? = nil
    ) async throws -> Aether_V1_FileStat {
        try await clients.files.write(metadata: metadata) { writer in
            var header = Aether_V1_WriteHeader()
            header.session = session
            header.path = path
            if let ifMatch { header.ifMatch = ifMatch }
            if let ctime { header.ctime = ctime }
            var first = Aether_V1_WriteRequest()
            first.header = header
            try await writer.write(first)
            for piece in pieces {
                var message = Aether_V1_WriteRequest()
                message.data = piece
                try await writer.write(message)
            }
        }
    }

    /// A whole file through the server-streaming Read, with the stat of its first chunk.
    static func read(
        _ clients: Clients, _ metadata: Metadata, session: String, path: String, offset: UInt64 = 0, length: UInt64? = nil, at: String? = nil
    ) async throws -> (Data, Aether_V1_FileStat) {
        var request = Aether_V1_ReadRequest()
        request.session = session
        request.path = path
        request.offset = offset
        if let length { request.length = length }
        if let at { request.at = at }
        return try await clients.files.read(request, metadata: metadata) { response in
            var data = Data()
            var stat: Aether_V1_FileStat?
            for try await chunk in response.messages {
                #expect(chunk.offset == offset + UInt64(data.count))
                if chunk.hasStat { stat = chunk.stat }
                data.append(chunk.data)
            }
            return (data, try #require(stat, "the first chunk carries the stat"))
        }
    }

    @Test(arguments: ServerBackend.withTLS) func sessionLifecycleOverGRPC(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        try await withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let health = try await c.service.health(Aether_V1_HealthRequest())
            #expect(health.status == "ok")

            let base = try await GRPCTests.blank(c, admin, name: "base")
            #expect(base.id.hasPrefix("ses_") && base.name == "base" && base.status == .active)
            let main = try await GRPCTests.write(c, admin, session: base.id, path: "/src/main.c", pieces: [Data("int main()".utf8), Data("{}\n".utf8)])
            #expect(main.size == 13 && main.kind == .file && main.hasContentID)
            try await GRPCTests.write(c, admin, session: base.id, path: "/README.md", pieces: [Data("# hi\n".utf8)])
            let (bytes, stat) = try await GRPCTests.read(c, admin, session: base.id, path: "/src/main.c")
            #expect(String(decoding: bytes, as: UTF8.self) == "int main(){}\n")
            #expect(stat.contentID == main.contentID && stat.size == 13)
            let (middle, _) = try await GRPCTests.read(c, admin, session: base.id, path: "/src/main.c", offset: 4, length: 4)
            #expect(String(decoding: middle, as: UTF8.self) == "main")
            // Optimistic concurrency: a stale if_match is refused before any data is taken.
            let stale = await GRPCTests.code {
                try await GRPCTests.write(c, admin, session: base.id, path: "/src/main.c", pieces: [Data("x".utf8)], ifMatch: "stale")
            }
            #expect(stale == .failedPrecondition)
            try await GRPCTests.write(c, admin, session: base.id, path: "/src/main.c", pieces: [Data("int main(){return 0;}\n".utf8)], ifMatch: main.contentID)

            // Namespace operations.
            var mkdir = Aether_V1_MkdirRequest()
            (mkdir.session, mkdir.path) = (base.id, "/docs")
            #expect(try await c.files.mkdir(mkdir, metadata: admin).kind == .directory)
            var rename = Aether_V1_RenameRequest()
            (rename.session, rename.from, rename.to) = (base.id, "/README.md", "/docs/README.md")
            #expect(try await c.files.rename(rename, metadata: admin).path == "/docs/README.md")
            var list = Aether_V1_ListRequest()
            (list.session, list.recursive) = (base.id, true)
            #expect(try await c.files.list(list, metadata: admin).entries.map(\.path) == ["/docs", "/docs/README.md", "/src", "/src/main.c"])
            list.limit = 3
            #expect(await GRPCTests.code { _ = try await c.files.list(list, metadata: admin) } == .invalidArgument)
            list.limit = 4
            #expect(try await c.files.list(list, metadata: admin).entries.count == 4)
            var statRequest = Aether_V1_StatRequest()
            (statRequest.session, statRequest.path) = (base.id, "/docs/README.md")
            #expect(try await c.files.stat(statRequest, metadata: admin).size == 5)
            var manifest = Aether_V1_ManifestRequest()
            manifest.session = base.id
            #expect(try await c.sessions.manifest(manifest, metadata: admin).entries.map(\.path) == ["/docs/README.md", "/src/main.c"])

            // Links, special files, owners, modes, times and xattrs (then removed, so what follows is unchanged).
            var symlink = Aether_V1_SymlinkRequest()
            (symlink.session, symlink.path, symlink.target) = (base.id, "/tmp-link", "src/main.c")
            #expect(try await c.files.symlink(symlink, metadata: admin).target == "src/main.c")
            var mknod = Aether_V1_MknodRequest()
            (mknod.session, mknod.path, mknod.kind, mknod.mode, mknod.rdev) = (base.id, "/tmp-dev", .charDevice, 0o640, 259)
            let device = try await c.files.mknod(mknod, metadata: admin)
            #expect(device.kind == .charDevice && device.rdev == 259 && device.mode == 0o640)
            var chown = Aether_V1_ChownRequest()
            (chown.session, chown.path, chown.uid) = (base.id, "/tmp-dev", 1000)
            #expect(try await c.files.chown(chown, metadata: admin).uid == 1000)
            var chmod = Aether_V1_ChmodRequest()
            (chmod.session, chmod.path, chmod.mode) = (base.id, "/tmp-dev", 0o600)
            #expect(try await c.files.chmod(chmod, metadata: admin).mode == 0o600)
            var times = Aether_V1_SetTimesRequest()
            (times.session, times.path) = (base.id, "/tmp-dev")
            times.atime = Google_Protobuf_Timestamp(seconds: 1000, nanos: 5)
            let timed = try await c.files.setTimes(times, metadata: admin)
            #expect(timed.mtime == device.mtime && timed.ctime.seconds >= device.mtime.seconds)
            var link = Aether_V1_LinkRequest()
            (link.session, link.from, link.to) = (base.id, "/tmp-dev", "/tmp-dev2")
            #expect(try await c.files.link(link, metadata: admin).uid == 1000)
            var names = Aether_V1_StatRequest()
            (names.session, names.path) = (base.id, "/tmp-dev")
            #expect(try await c.files.hardLinks(names, metadata: admin).names == ["/tmp-dev", "/tmp-dev2"])
            var setXattr = Aether_V1_SetXattrRequest()
            (setXattr.session, setXattr.path, setXattr.name, setXattr.value) = (base.id, "/src/main.c", "user.lang", Data("c".utf8))
            #expect(try await c.files.setXattr(setXattr, metadata: admin).xattrs == ["user.lang"])
            setXattr.createOnly = true
            #expect(await GRPCTests.code { _ = try await c.files.setXattr(setXattr, metadata: admin) } == .alreadyExists)
            var xattrs = Aether_V1_StatRequest()
            (xattrs.session, xattrs.path) = (base.id, "/src/main.c")
            #expect(try await c.files.getXattrs(xattrs, metadata: admin).xattrs == ["user.lang": Data("c".utf8)])
            var removeXattr = Aether_V1_RemoveXattrRequest()
            (removeXattr.session, removeXattr.path, removeXattr.name) = (base.id, "/src/main.c", "user.lang")
            #expect(try await c.files.removeXattr(removeXattr, metadata: admin).xattrs.isEmpty)
            mknod.kind = .unspecified
            #expect(await GRPCTests.code { _ = try await c.files.mknod(mknod, metadata: admin) } == .invalidArgument)
            for path in ["/tmp-link", "/tmp-dev", "/tmp-dev2"] {
                var delete = Aether_V1_DeletePathRequest()
                (delete.session, delete.path) = (base.id, path)
                _ = try await c.files.delete(delete, metadata: admin)
            }

            // Checkpoint, fork, diff, restore, commit, promote.
            var checkpointRequest = Aether_V1_CheckpointRequest()
            (checkpointRequest.session, checkpointRequest.label) = (base.id, "before")
            let checkpoint = try await c.sessions.checkpoint(checkpointRequest, metadata: admin)
            #expect(checkpoint.sessionID == base.id && checkpoint.label == "before")
            var forkRequest = Aether_V1_ForkSessionRequest()
            (forkRequest.session, forkRequest.name) = (base.id, "try-1")
            let fork = try await c.sessions.fork(forkRequest, metadata: admin)
            #expect(fork.parentID == base.id)
            var delete = Aether_V1_DeletePathRequest()
            (delete.session, delete.path) = (fork.id, "/src/main.c")
            _ = try await c.files.delete(delete, metadata: admin)
            var diffRequest = Aether_V1_DiffRequest()
            (diffRequest.session, diffRequest.against) = (fork.id, base.id)
            let diff = try await c.sessions.diff(diffRequest, metadata: admin).entries
            #expect(diff.map(\.path) == ["/src/main.c"] && diff.first?.change == .deleted)
            (delete.session, delete.path, delete.recursive) = (base.id, "/docs", true)
            _ = try await c.files.delete(delete, metadata: admin)
            var restore = Aether_V1_RestoreRequest()
            (restore.session, restore.checkpoint) = (base.id, checkpoint.id)
            _ = try await c.sessions.restore(restore, metadata: admin)
            #expect(String(decoding: try await GRPCTests.read(c, admin, session: base.id, path: "/docs/README.md").0, as: UTF8.self) == "# hi\n")
            var checkpoints = Aether_V1_ListCheckpointsRequest()
            checkpoints.session = base.id
            #expect(try await c.sessions.listCheckpoints(checkpoints, metadata: admin).checkpoints.map(\.id) == [checkpoint.id])
            var commitRequest = Aether_V1_CommitRequest()
            (commitRequest.session, commitRequest.message) = (fork.id, "drop main")
            var attributed = admin
            attributed.addString("agent-7", forKey: "x-afs-actor")
            let commit = try await c.sessions.commit(commitRequest, metadata: attributed)
            #expect(commit.author == "agent-7" && commit.message == "drop main" && commit.id.count == 64)
            var promote = Aether_V1_PromoteRequest()
            (promote.session, promote.ref) = (fork.id, "main")
            let promoted = try await c.sessions.promote(promote, metadata: admin)
            #expect(promoted.outcome == .created && promoted.commitID == commit.id)

            // Export: a tar stream with both files in it.
            var export = Aether_V1_ExportRequest()
            export.session = base.id
            let tar = try await c.sessions.export(export, metadata: admin) { response in
                var tar = Data()
                for try await chunk in response.messages { tar.append(chunk.data) }
                return tar
            }
            #expect(tar.count >= 3 * 512 && tar.count % 512 == 0)
            #expect(tar.range(of: Data("docs/README.md".utf8)) != nil && tar.range(of: Data("int main(){return 0;}".utf8)) != nil)

            // Archive, list, delete.
            var archive = Aether_V1_ArchiveSessionRequest()
            archive.session = fork.id
            #expect(try await c.sessions.archive(archive, metadata: admin).status == .archived)
            let archivedWrite = await GRPCTests.code {
                try await GRPCTests.write(c, admin, session: fork.id, path: "/x", pieces: [Data("x".utf8)])
            }
            #expect(archivedWrite == .aborted)
            var listSessions = Aether_V1_ListSessionsRequest()
            listSessions.status = .archived
            #expect(try await c.sessions.list(listSessions, metadata: admin).sessions.map(\.id) == [fork.id])
            #expect(try await c.sessions.list(Aether_V1_ListSessionsRequest(), metadata: admin).sessions.count == 2)
            var deleteSession = Aether_V1_DeleteSessionRequest()
            deleteSession.session = fork.id
            _ = try await c.sessions.delete(deleteSession, metadata: admin)
            var get = Aether_V1_GetSessionRequest()
            get.session = fork.id
            #expect(await GRPCTests.code { _ = try await c.sessions.get(get, metadata: admin) } == .notFound)
            // The same store serves HTTP: what gRPC wrote, HTTP reads.
            #expect(try server.request("GET", "/v1/sessions/\(base.id)/files/src/main.c").text == "int main(){return 0;}\n")
        }
    }

    @Test(arguments: ServerBackend.allCases) func largeStreamedWriteAndReadKeepServerMemoryFlat(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let megabytes = Int(ProcessInfo.processInfo.environment["AFS_BIG_FILE_MB"] ?? "") ?? 64
        let size = UInt64(megabytes) << 20
        try await withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let session = try await GRPCTests.blank(c, admin)
            let baseline = server.peakRSS()
            // Pseudo-random, incompressible content, generated piece by piece on both sides: the
            // test holds one piece at a time too.
            let written = try await c.files.write(metadata: admin) { writer in
                var header = Aether_V1_WriteRequest()
                header.header.session = session.id
                header.header.path = "/big.bin"
                try await writer.write(header)
                var source = NoiseStream()
                for _ in 0..<megabytes {
                    var message = Aether_V1_WriteRequest()
                    message.data = source.next(1 << 20)
                    try await writer.write(message)
                }
            }
            #expect(written.size == size)
            var request = Aether_V1_ReadRequest()
            (request.session, request.path) = (session.id, "/big.bin")
            let (received, matches) = try await c.files.read(request, metadata: admin) { response in
                var expected = NoiseStream()
                var received: UInt64 = 0
                var matches = true
                for try await chunk in response.messages {
                    matches = matches && chunk.offset == received && chunk.data == expected.next(chunk.data.count)
                    received += UInt64(chunk.data.count)
                }
                return (received, matches)
            }
            #expect(received == size)
            #expect(matches, "downloaded bytes differ from uploaded ones")
            // Flat: a bounded working set (windows, HTTP/2 buffers, the store's caches; about 26 MiB
            // at 64 MiB and 38 MiB at 256 MiB here), never a copy of the file.
            // On S3, add the pack being filled and the one being uploaded (16 MiB each).
            let growth = server.peakRSS() - baseline
            let bound = (backend == .clustered ? 96 : 64) << 20
            #expect(growth < bound, "server memory grew by \(growth >> 20) MiB for a \(megabytes) MiB file")
        }
    }

    @Test(arguments: ServerBackend.allCases) func tenantsCannotSeeEachOthersSessions(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let a = try server.request("POST", "/v1/tokens", json: ["tenant": "acme", "role": "writer"]).object()["token"] as! String
        let b = try server.request("POST", "/v1/tokens", json: ["tenant": "globex", "role": "writer"]).object()["token"] as! String
        try await withClients(server) { c in
            let (ta, tb) = (GRPCTests.auth(a), GRPCTests.auth(b))
            let session = try await GRPCTests.blank(c, ta)
            try await GRPCTests.write(c, ta, session: session.id, path: "/secret", pieces: [Data("s".utf8)])
            #expect(try await c.sessions.list(Aether_V1_ListSessionsRequest(), metadata: tb).sessions.isEmpty)
            #expect(try await c.sessions.list(Aether_V1_ListSessionsRequest(), metadata: ta).sessions.map(\.id) == [session.id])
            var get = Aether_V1_GetSessionRequest()
            get.session = session.id
            #expect(await GRPCTests.code { _ = try await c.sessions.get(get, metadata: tb) } == .notFound)
            #expect(await GRPCTests.code { _ = try await GRPCTests.read(c, tb, session: session.id, path: "/secret") } == .notFound)
            #expect(await GRPCTests.code { try await GRPCTests.write(c, tb, session: session.id, path: "/x", pieces: []) } == .notFound)
            var fork = Aether_V1_CreateSessionRequest()
            fork.source.session = session.id
            #expect(await GRPCTests.code { _ = try await c.sessions.create(fork, metadata: tb) } == .notFound)
            var subscribe = Aether_V1_SubscribeChangesRequest()
            subscribe.session = session.id
            let subscription = await GRPCTests.code {
                try await c.coordination.subscribeChanges(subscribe, metadata: tb) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(subscription == .notFound)
            // Sources on the server's disk are for the store admin only.
            var directory = Aether_V1_CreateSessionRequest()
            directory.source.directory = "/etc"
            #expect(await GRPCTests.code { _ = try await c.sessions.create(directory, metadata: tb) } == .permissionDenied)
            // Knowledge is tenant-scoped.
            var put = Aether_V1_PutKnowledgeRequest()
            (put.key, put.value) = ("k", "1")
            _ = try await c.coordination.putKnowledge(put, metadata: ta)
            var getKnowledge = Aether_V1_GetKnowledgeRequest()
            getKnowledge.key = "k"
            #expect(try await c.coordination.getKnowledge(getKnowledge, metadata: ta).value == "1")
            #expect(await GRPCTests.code { _ = try await c.coordination.getKnowledge(getKnowledge, metadata: tb) } == .notFound)
        }
    }

    @Test(arguments: ServerBackend.allCases) func errorClassesMapToStatusCodes(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let reader = try server.request("POST", "/v1/tokens", json: ["tenant": "admin", "role": "reader"]).object()["token"] as! String
        try await withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let session = try await GRPCTests.blank(c, admin)
            try await GRPCTests.write(c, admin, session: session.id, path: "/f", pieces: [Data("12345".utf8)])
            var stat = Aether_V1_StatRequest()
            (stat.session, stat.path) = (session.id, "/a/../../b")
            do {
                _ = try await c.files.stat(stat, metadata: admin)
                Issue.record("a path with .. was accepted")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(Array(error.metadata[stringValues: "x-afs-error-code"]) == ["invalid_path"])
            }
            #expect(await GRPCTests.code { _ = try await c.sessions.list(Aether_V1_ListSessionsRequest()) } == .unauthenticated)
            #expect(
                await GRPCTests.code { _ = try await c.sessions.list(Aether_V1_ListSessionsRequest(), metadata: GRPCTests.auth("afs_wrong")) }
                    == .unauthenticated)
            #expect(
                await GRPCTests.code {
                    try await GRPCTests.write(c, GRPCTests.auth(reader), session: session.id, path: "/x", pieces: [Data("x".utf8)])
                } == .permissionDenied)
            // A reader may read.
            #expect(try await GRPCTests.read(c, GRPCTests.auth(reader), session: session.id, path: "/f").0 == Data("12345".utf8))
            var get = Aether_V1_GetSessionRequest()
            get.session = "ses_nothere"
            #expect(await GRPCTests.code { _ = try await c.sessions.get(get, metadata: admin) } == .notFound)
            stat.path = "/missing"
            #expect(await GRPCTests.code { _ = try await c.files.stat(stat, metadata: admin) } == .notFound)
            var mkdir = Aether_V1_MkdirRequest()
            (mkdir.session, mkdir.path) = (session.id, "/")
            #expect(await GRPCTests.code { _ = try await c.files.mkdir(mkdir, metadata: admin) } == .alreadyExists)
            #expect(await GRPCTests.code { _ = try await GRPCTests.read(c, admin, session: session.id, path: "/f", offset: 6) } == .outOfRange)
            #expect(await GRPCTests.code { _ = try await c.sessions.create(Aether_V1_CreateSessionRequest(), metadata: admin) } == .invalidArgument)
            // A path under someone else's exclusive lease: the write needs the fencing token.
            var lease = Aether_V1_AcquireLeaseRequest()
            (lease.session, lease.path, lease.exclusive, lease.holder) = (session.id, "/locked", true, "other-agent")
            let granted = try await c.coordination.acquireLease(lease, metadata: admin)
            #expect(
                await GRPCTests.code { try await GRPCTests.write(c, admin, session: session.id, path: "/locked/x", pieces: [Data("x".utf8)]) }
                    == .failedPrecondition)
            var fenced = admin
            fenced.addString(String(granted.token), forKey: "x-afs-lock-token")
            #expect(try await GRPCTests.write(c, fenced, session: session.id, path: "/locked/x", pieces: [Data("x".utf8)]).size == 1)
            #expect(await GRPCTests.code { _ = try await c.coordination.acquireLease(lease, metadata: admin) } == .failedPrecondition)
        }
    }

    @Test(arguments: ServerBackend.allCases) func changefeedSubscriptionFollowsLiveChanges(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        try await withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let session = try await GRPCTests.blank(c, admin)
            for i in 0..<3 { try await GRPCTests.write(c, admin, session: session.id, path: "/f\(i)", pieces: [Data("\(i)".utf8)]) }
            var request = Aether_V1_SubscribeChangesRequest()
            request.session = session.id
            var options = CallOptions.defaults
            options.timeout = .seconds(30)
            // The history (create + 3 writes), then two writes made while subscribed arrive live.
            let events = try await c.coordination.subscribeChanges(request, metadata: admin, options: options) { response in
                var events: [Aether_V1_ChangeEvent] = []
                for try await event in response.messages {
                    events.append(event)
                    if event.seq == 4 {
                        for i in 3..<5 {
                            try await GRPCTests.write(c, admin, session: session.id, path: "/f\(i)", pieces: [Data("\(i)".utf8)])
                        }
                    }
                    if event.seq == 6 { break }
                }
                return events
            }
            #expect(events.map(\.seq) == [1, 2, 3, 4, 5, 6])
            #expect(events.first?.kind == "create" && events.last?.kind == "write" && events.last?.path == "/f4")
            // Resuming after the last seq seen gives exactly what came after it.
            try await GRPCTests.write(c, admin, session: session.id, path: "/f5", pieces: [Data("5".utf8)])
            request.since = 6
            let resumed = try await c.coordination.subscribeChanges(request, metadata: admin, options: options) { response -> Aether_V1_ChangeEvent? in
                for try await event in response.messages { return event }
                return nil
            }
            #expect(resumed?.seq == 7 && resumed?.path == "/f5")
            // The bus follows live too.
            var publish = Aether_V1_PublishRequest()
            (publish.session, publish.topic, publish.payload) = (session.id, "plans", #"{"step":1}"#)
            _ = try await c.coordination.publish(publish, metadata: admin)
            var second = publish
            second.payload = #"{"step":2}"#
            let live = second
            var subscribeBus = Aether_V1_SubscribeBusRequest()
            (subscribeBus.session, subscribeBus.topic) = (session.id, "plans")
            let messages = try await c.coordination.subscribeBus(subscribeBus, metadata: admin, options: options) { response in
                var payloads: [String] = []
                for try await message in response.messages {
                    payloads.append(message.payload)
                    if message.offset == 1 {
                        _ = try await c.coordination.publish(live, metadata: admin)
                    } else {
                        break
                    }
                }
                return payloads
            }
            #expect(messages == [#"{"step":1}"#, #"{"step":2}"#])
        }
    }

    @Test(arguments: ServerBackend.allCases) func gracefulShutdownEndsLiveSubscriptions(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        // kill(0, …) would signal this whole process group: only ever signal the server itself.
        let pid = server.pid
        try #require(pid > 0 && pid != getpid())
        let ended = try await withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let session = try await GRPCTests.blank(c, admin)
            var request = Aether_V1_SubscribeChangesRequest()
            request.session = session.id
            return try await c.coordination.subscribeChanges(request, metadata: admin) { response in
                var seen = 0
                for try await _ in response.messages {
                    seen += 1
                    // The subscription is live: stop the server under it (SIGTERM).
                    if seen == 1 { kill(pid, SIGTERM) }
                }
                return seen
            }
        }
        #expect(ended == 1)
        server.stop()
        #expect(server.process.terminationStatus == 0)
    }

    @Test func reflectionDescribesTheServices() async throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        try await withClients(server) { c in
            var list = Grpc_Reflection_V1_ServerReflectionRequest()
            list.listServices = ""
            var symbol = Grpc_Reflection_V1_ServerReflectionRequest()
            symbol.fileContainingSymbol = "aether.v1.Files.Write"
            var unknown = Grpc_Reflection_V1_ServerReflectionRequest()
            unknown.fileContainingSymbol = "aether.v1.Nothing"
            let requests = [list, symbol, unknown]
            let responses = try await c.reflection.serverReflectionInfo { writer in
                try await writer.write(contentsOf: requests)
            } onResponse: { response in
                var all: [Grpc_Reflection_V1_ServerReflectionResponse] = []
                for try await message in response.messages { all.append(message) }
                return all
            }
            try #require(responses.count == 3)
            let services = responses[0].listServicesResponse.service.map(\.name)
            #expect(services.contains("aether.v1.Sessions") && services.contains("aether.v1.Files"))
            #expect(services.contains("aether.v1.Coordination") && services.contains("grpc.reflection.v1.ServerReflection"))
            let files = try responses[1].fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0) }
            #expect(files.first?.name == "aether/v1/files.proto")
            #expect(files.first?.service.first?.method.map(\.name).contains("Write") == true)
            #expect(Set(files.map(\.name)) == ["aether/v1/files.proto", "aether/v1/types.proto", "google/protobuf/timestamp.proto"])
            #expect(responses[2].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
        }
    }
}

/// Deterministic, incompressible bytes (xorshift64), produced in pieces of any size.
struct NoiseStream {
    private var state: UInt64 = 0x1234_5678
    /// Bytes of the last word not handed out yet.
    private var spare: [UInt8] = []

    mutating func next(_ count: Int) -> Data {
        var out = Data(capacity: count)
        let fromSpare = min(count, spare.count)
        out.append(contentsOf: spare.prefix(fromSpare))
        spare.removeFirst(fromSpare)
        let words = (count - out.count + 7) / 8
        var block = [UInt64](repeating: 0, count: words)
        for i in 0..<words {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            block[i] = state
        }
        block.withUnsafeBytes { bytes in
            let take = count - out.count
            out.append(contentsOf: bytes.prefix(take))
            spare.append(contentsOf: bytes.dropFirst(take))
        }
        return out
    }
}

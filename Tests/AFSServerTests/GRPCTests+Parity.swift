import AFSCore
import AFSGRPC
import AFSTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Testing

/// The gRPC methods that bring the gRPC API to parity with HTTP: tar import as a client stream,
/// history, ref policies, snapshots, review, undo, bus pages, tokens, analytics, store
/// maintenance, patch, batch, access times, chunked writes, workspaces without afs-vmd, health
/// and v1alpha reflection.
extension GRPCTests {
    @Test(arguments: ServerBackend.allCases) func everyOperationOverGRPC(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let admin = Self.auth(server.adminToken)
        try await withClients(server) { c in
            // A session from a tar archive streamed in pieces.
            let tarPath = server.data + "-import.tar"
            let tree = server.data + "-tree"
            try FileManager.default.createDirectory(atPath: tree + "/src", withIntermediateDirectories: true)
            try Data("int main(void) { return 0; }\n".utf8).write(to: URL(fileURLWithPath: tree + "/src/main.c"))
            defer { try? FileManager.default.removeItem(atPath: tree); unlink(tarPath) }
            let tar = try ChildProcess.run("/bin/tar", ["-cf", tarPath, "-C", tree, "."])
            #expect(tar.status == 0)
            let archive = try Data(contentsOf: URL(fileURLWithPath: tarPath))
            let imported = try await c.sessions.importTar(metadata: admin) { writer in
                var first = Aether_V1_ImportChunk()
                first.name = "imported"
                first.data = archive.prefix(1000)
                try await writer.write(first)
                var rest = Aether_V1_ImportChunk()
                rest.data = archive.dropFirst(1000)
                try await writer.write(rest)
            }
            #expect(imported.name == "imported")
            let (source, _) = try await Self.read(c, admin, session: imported.id, path: "/src/main.c")
            #expect(String(decoding: source, as: UTF8.self).hasPrefix("int main"))

            // Commit, promote, history, policy.
            var commit = Aether_V1_CommitRequest()
            commit.session = imported.id
            commit.message = "import"
            let first = try await c.sessions.commit(commit, metadata: admin)
            var promote = Aether_V1_PromoteRequest()
            promote.session = imported.id
            promote.ref = "main"
            #expect(try await c.sessions.promote(promote, metadata: admin).outcome == .created)
            #expect(try await c.sessions.listRefs(.init(), metadata: admin).refs.map(\.name) == ["main"])
            var log = Aether_V1_LogRequest()
            log.start = "main"
            #expect(try await c.sessions.log(log, metadata: admin).commits.map(\.id) == [first.id])
            var getCommit = Aether_V1_GetCommitRequest()
            getCommit.id = first.id
            #expect(try await c.sessions.getCommit(getCommit, metadata: admin).message == "import")
            var setPolicy = Aether_V1_SetRefPolicyRequest()
            setPolicy.ref = "main"
            setPolicy.requiredApprovals = 1
            #expect(try await c.sessions.setRefPolicy(setPolicy, metadata: admin).requiredApprovals == 1)
            var getPolicy = Aether_V1_GetRefPolicyRequest()
            getPolicy.ref = "main"
            #expect(try await c.sessions.getRefPolicy(getPolicy, metadata: admin).requiredApprovals == 1)

            // Snapshots.
            var snapshot = Aether_V1_CreateSnapshotRequest()
            snapshot.session = imported.id
            snapshot.name = "template"
            #expect(try await c.sessions.createSnapshot(snapshot, metadata: admin).name == "template")
            #expect(try await c.sessions.listSnapshots(.init(), metadata: admin).snapshots.map(\.name) == ["template"])

            // A fork changed by patch, batch and a chunked write; then reviewed and promoted.
            var forkRequest = Aether_V1_ForkSessionRequest()
            forkRequest.session = imported.id
            let fork = try await c.sessions.fork(forkRequest, metadata: admin)
            var patch = Aether_V1_PatchRequest()
            patch.session = fork.id
            patch.path = "/src/main.c"
            patch.offset = 4
            patch.data = Data("MAIN".utf8)
            #expect(try await c.files.patch(patch, metadata: admin).size == UInt64(source.count))
            var batch = Aether_V1_BatchRequest()
            batch.session = fork.id
            var mkdir = Aether_V1_BatchChange()
            mkdir.op = .mkdir
            mkdir.path = "/docs"
            var write = Aether_V1_BatchChange()
            write.op = .write
            write.path = "/docs/a.md"
            write.data = Data("# a\n".utf8)
            var bad = Aether_V1_BatchChange()
            bad.op = .remove
            bad.path = "/missing"
            batch.changes = [mkdir, write, bad]
            let outcomes = try await c.files.batch(batch, metadata: admin).outcomes
            #expect(outcomes.map(\.hasCode) == [false, false, true])
            #expect(outcomes[1].stat.size == 4 && outcomes[2].code == "not_found")
            var atimes = Aether_V1_RecordAccessTimesRequest()
            atimes.session = fork.id
            atimes.atimes = ["/docs/a.md": 4_000_000_000_000_000_000]
            #expect(try await c.files.recordAccessTimes(atimes, metadata: admin).moved == 1)

            // Chunked write: only the chunks the server lacks travel as bytes.
            var noise = NoiseStream()
            let big = noise.next(3 << 20)
            try await Self.write(c, admin, session: fork.id, path: "/big.bin", pieces: [big])
            var changed = big
            changed.replaceSubrange(0..<16, with: Data(repeating: 0x41, count: 16))
            let edited = changed
            let editedPath = server.data + "-edited.bin"
            try edited.write(to: URL(fileURLWithPath: editedPath))
            defer { unlink(editedPath) }
            let fd = open(editedPath, O_RDONLY)
            let pieces = try ChunkedContent.pieces(ofDescriptor: fd)
            close(fd)
            var missingRequest = Aether_V1_MissingChunksRequest()
            missingRequest.session = fork.id
            missingRequest.path = "/big.bin"
            missingRequest.chunks = pieces.map(\.id.hex)
            let missing = Set(try await c.files.missingChunks(missingRequest, metadata: admin).missing)
            #expect(!missing.isEmpty && missing.count < pieces.count, "\(missing.count) of \(pieces.count) chunks missing")
            let stat = try await c.files.write(metadata: admin) { writer in
                var header = Aether_V1_WriteHeader()
                header.session = fork.id
                header.path = "/big.bin"
                header.chunked = true
                var message = Aether_V1_WriteRequest()
                message.header = header
                try await writer.write(message)
                for piece in pieces {
                    var m = Aether_V1_WriteRequest()
                    if missing.contains(piece.id.hex) {
                        var chunk = Aether_V1_ChunkBytes()
                        chunk.id = piece.id.hex
                        chunk.data = edited.subdata(in: Int(piece.offset)..<Int(piece.offset) + piece.length)
                        m.chunk = chunk
                    } else {
                        var reference = Aether_V1_ChunkReference()
                        reference.id = piece.id.hex
                        reference.length = UInt32(piece.length)
                        m.reference = reference
                    }
                    try await writer.write(m)
                }
            }
            #expect(stat.size == UInt64(edited.count))
            #expect(try await Self.read(c, admin, session: fork.id, path: "/big.bin").0 == edited)

            var commitFork = Aether_V1_CommitRequest()
            commitFork.session = fork.id
            commitFork.message = "work"
            _ = try await c.sessions.commit(commitFork, metadata: admin)
            promote.session = fork.id
            #expect(await Self.code { _ = try await c.sessions.promote(promote, metadata: admin) } == .permissionDenied)
            var review = Aether_V1_RequestReviewRequest()
            review.session = fork.id
            review.requiredApprovals = 1
            #expect(try await c.coordination.requestReview(review, metadata: admin).requiredApprovals == 1)
            var decide = Aether_V1_DecideRequest()
            decide.session = fork.id
            decide.approve = true
            decide.comment = "looks right"
            var reviewer = admin
            reviewer.addString("reviewer-1", forKey: "x-afs-actor")
            let decided = try await c.coordination.decide(decide, metadata: reviewer)
            #expect(decided.decisions.map(\.reviewer) == ["reviewer-1"] && decided.status == .approved)
            var getReview = Aether_V1_GetReviewRequest()
            getReview.session = fork.id
            #expect(try await c.coordination.getReview(getReview, metadata: admin).status == .approved)
            #expect(try await c.sessions.promote(promote, metadata: admin).outcome == .fastForward)
            log.limit = 1
            #expect(try await c.sessions.log(log, metadata: admin).commits.first?.message == "work")

            // Undo one actor's changes since a checkpoint.
            var checkpoint = Aether_V1_CheckpointRequest()
            checkpoint.session = imported.id
            let cp = try await c.sessions.checkpoint(checkpoint, metadata: admin)
            var agent = admin
            agent.addString("agent-9", forKey: "x-afs-actor")
            try await Self.write(c, agent, session: imported.id, path: "/agent.txt", pieces: [Data("x".utf8)])
            var undo = Aether_V1_UndoRequest()
            undo.session = imported.id
            undo.actor = "agent-9"
            undo.since = cp.id
            #expect(try await c.coordination.undo(undo, metadata: admin).removed == ["/agent.txt"])

            // Bus pages and topics.
            var publish = Aether_V1_PublishRequest()
            publish.session = imported.id
            publish.topic = "build"
            for i in 1...3 {
                publish.payload = "{\"n\":\(i)}"
                _ = try await c.coordination.publish(publish, metadata: admin)
            }
            var page = Aether_V1_ListMessagesRequest()
            page.session = imported.id
            page.topic = "build"
            page.from = 2
            page.limit = 5
            #expect(try await c.coordination.listMessages(page, metadata: admin).messages.map(\.offset) == [2, 3])
            var topics = Aether_V1_ListTopicsRequest()
            topics.session = imported.id
            #expect(try await c.coordination.listTopics(topics, metadata: admin).topics == ["build"])

            // Tokens: create, use, list, revoke.
            var create = Aether_V1_CreateTokenRequest()
            create.tenant = "team-b"
            create.role = .reader
            create.label = "ci"
            let created = try await c.service.createToken(create, metadata: admin)
            #expect(created.info.tenant == "team-b" && created.info.role == .reader && !created.token.isEmpty)
            let reader = Self.auth(created.token)
            #expect(try await c.sessions.list(.init(), metadata: reader).sessions.isEmpty)
            #expect(await Self.code { _ = try await c.service.storeStats(.init(), metadata: reader) } == .permissionDenied)
            #expect(try await c.service.listTokens(.init(), metadata: admin).tokens.contains { $0.id == created.info.id })
            var revoke = Aether_V1_RevokeTokenRequest()
            revoke.id = created.info.id
            _ = try await c.service.revokeToken(revoke, metadata: admin)
            try await Task.sleep(for: .milliseconds(50))
            #expect(await Self.code { _ = try await c.sessions.list(.init(), metadata: reader) } == .unauthenticated)
            create.role = .unspecified
            #expect(await Self.code { _ = try await c.service.createToken(create, metadata: admin) } == .invalidArgument)

            // Analytics and store maintenance.
            let analytics = try await c.service.analytics(.init(), metadata: admin)
            #expect(analytics.sessions == 2 && analytics.forks == 1)
            #expect(try await c.service.storeStats(.init(), metadata: admin).sessions == 2)
            _ = try await c.service.collectGarbage(.init(), metadata: admin)
            #expect(try await c.service.verifyStore(.init(), metadata: admin).problems == [])

            // Workspaces without afs-vmd: UNAVAILABLE, and health says so.
            #expect(await Self.code { _ = try await c.workspaces.list(.init(), metadata: admin) } == .unavailable)
            var check = Grpc_Health_V1_HealthCheckRequest()
            #expect(try await c.health.check(check).status == .serving)
            check.service = "aether.v1.Sessions"
            #expect(try await c.health.check(check).status == .serving)
            check.service = "aether.v1.Workspaces"
            #expect(try await c.health.check(check).status == .notServing)
            check.service = "no.such.Service"
            #expect(await Self.code { _ = try await c.health.check(check) } == .notFound)
        }
    }

    /// Health's Watch reports SERVING, then NOT_SERVING when a graceful shutdown begins, and ends.
    @Test func healthWatchSeesTheShutdown() async throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        try await withClients(server) { c in
            let statuses = try await c.health.watch(Grpc_Health_V1_HealthCheckRequest()) { response in
                var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                for try await message in response.messages {
                    seen.append(message.status)
                    if seen.count == 1 { kill(server.pid, SIGTERM) }
                }
                return seen
            }
            #expect(statuses == [.serving, .notServing])
        }
    }

    /// Reflection answers under the older v1alpha name too, as the Python client and many tools ask.
    @Test func reflectionAnswersV1Alpha() async throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        try await withClients(server) { c in
            var list = Grpc_Reflection_V1alpha_ServerReflectionRequest()
            list.listServices = ""
            var symbol = Grpc_Reflection_V1alpha_ServerReflectionRequest()
            symbol.fileContainingSymbol = "aether.v1.Sessions.ImportTar"
            let requests = [list, symbol]
            let responses = try await c.reflectionAlpha.serverReflectionInfo { writer in
                try await writer.write(contentsOf: requests)
            } onResponse: { response in
                var all: [Grpc_Reflection_V1alpha_ServerReflectionResponse] = []
                for try await message in response.messages { all.append(message) }
                return all
            }
            try #require(responses.count == 2)
            let services = Set(responses[0].listServicesResponse.service.map(\.name))
            #expect(services.isSuperset(of: [
                "aether.v1.Sessions", "aether.v1.Files", "aether.v1.Coordination", "aether.v1.Service", "aether.v1.Workspaces",
                "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
            ]))
            let files = try responses[1].fileDescriptorResponse.fileDescriptorProto.map { try Google_Protobuf_FileDescriptorProto(serializedBytes: $0) }
            #expect(files.first?.name == "aether/v1/sessions.proto")
        }
    }

    /// gRPC's own Python clients, with nothing of this project: grpcio-health-checking checks and
    /// watches health; grpcio-reflection's descriptor database (v1alpha) learns the services, and a
    /// session is created through messages built from the reflected descriptors alone.
    @Test func grpcsOwnPythonClientsUseHealthAndReflection() throws {
        let tools = BackendProcess.repositoryRoot + "/.tools/python"
        try #require(FileManager.default.fileExists(atPath: tools + "/grpc_reflection"), "grpcio-reflection missing from \(tools): run scripts/bootstrap.sh")
        let server = try ServerHarness()
        defer { server.cleanup() }
        let run = try ChildProcess.run(
            "/usr/bin/env",
            ["PYTHONPATH=\(tools)", "python3", BackendProcess.repositoryRoot + "/Tests/Python/grpc_health_reflection.py", "\(server.grpcPort)", server.adminToken])
        let out = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0, "\(out)\n\(String(decoding: run.stderr, as: UTF8.self).suffix(4000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "\(out)")
        #expect(seen["health"] as? String == "SERVING" && seen["health_sessions"] as? String == "SERVING" && seen["watch_first"] as? String == "SERVING")
        #expect(seen["health_unknown"] as? String == "NOT_FOUND")
        #expect(Set(seen["services"] as? [String] ?? []).isSuperset(of: ["aether.v1.Sessions", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"]))
        #expect((seen["session_methods"] as? [String] ?? []).contains("ImportTar"))
        #expect((seen["created"] as? [String: Any])?["name"] as? String == "from-reflection")
        #expect(seen["log_unknown"] as? String == "NOT_FOUND")
        #expect(try server.request("GET", "/v1/sessions").array().map { $0["name"] as? String } == ["from-reflection"])
    }

    /// Bad tokens over gRPC run out the peer's budget as over HTTP: then RESOURCE_EXHAUSTED with
    /// `too_many_failed_authentications`, even for a good token, while calls without one cost nothing.
    @Test func badTokensOverGRPCAreThrottled() async throws {
        let server = try ServerHarness(environment: ["AFS_AUTH_FAILURES": "3"])
        defer { server.cleanup() }
        try await withClients(server) { c in
            for _ in 0..<5 { #expect(await Self.code { _ = try await c.sessions.list(.init()) } == .unauthenticated) }
            var codes: [RPCError.Code?] = []
            for i in 0..<5 { codes.append(await Self.code { _ = try await c.sessions.list(.init(), metadata: Self.auth("afs_guess_\(i)")) }) }
            #expect(codes == [.unauthenticated, .unauthenticated, .unauthenticated, .resourceExhausted, .resourceExhausted], "\(codes)")
            do {
                _ = try await c.sessions.list(.init(), metadata: Self.auth(server.adminToken))
                Issue.record("a throttled peer was served")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
                #expect(Array(error.metadata[stringValues: "x-afs-error-code"]) == ["too_many_failed_authentications"])
            }
        }
        // HTTP from the same address shares the budget.
        #expect(try server.request("GET", "/v1/sessions").status == 429)
    }
}

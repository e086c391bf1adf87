import AFSTestSupport
import Foundation
import GRPCCore
import Testing

/// `GET /v1/refs/{name}/log` and `GET /v1/commits/{id}` on both stores (every answer also checked
/// against the OpenAPI document by ``ServerHarness``).
@Suite struct HistoryTests {
    @Test(arguments: ServerBackend.allCases) func aRefsLogAndItsCommits(_ backend: ServerBackend) throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let base = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(base)/files/a.txt", body: Data("a".utf8)).status == 201)
        let first = try #require(try server.request("POST", "/v1/sessions/\(base)/commits", json: ["message": "base"]).object()["id"] as? String)
        #expect(try server.request("POST", "/v1/sessions/\(base)/promote", json: ["ref": "main"]).status == 200)
        let fork = try #require(try server.request("POST", "/v1/sessions/\(base)/fork").object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(fork)/files/b.txt", body: Data("b".utf8)).status == 201)
        let second = try #require(
            try server.request("POST", "/v1/sessions/\(fork)/commits", json: ["message": "add b", "author": "agent-7"]).object()["id"] as? String)
        #expect(try server.request("POST", "/v1/sessions/\(fork)/promote", json: ["ref": "main"]).object()["outcome"] as? String == "fast-forward")

        let log = try server.request("GET", "/v1/refs/main/log")
        #expect(log.status == 200, "\(log.text)")
        let commits = try log.array()
        #expect(commits.map { $0["id"] as? String } == [second, first])
        #expect(commits.first?["author"] as? String == "agent-7")
        #expect(commits.first?["parents"] as? [String] == [first])
        #expect(try server.request("GET", "/v1/refs/main/log?limit=1&skip=1").array().map { $0["id"] as? String } == [first])
        let one = try server.request("GET", "/v1/commits/\(second)")
        #expect(one.status == 200)
        #expect(try one.object()["message"] as? String == "add b")
        // A commit ID starts a log too; unknown names and bad paging are clear errors.
        #expect(try server.request("GET", "/v1/refs/\(first)/log").array().count == 1)
        #expect(try server.request("GET", "/v1/refs/nope/log").errorCode == "not_found")
        #expect(try server.request("GET", "/v1/commits/nope").status == 404)
        #expect(try server.request("GET", "/v1/refs/main/log?limit=ten").status == 400)
        #expect(try server.request("GET", "/v1/refs/main/log?limit=0").status == 400)
        // Readers see history; nobody without a token does.
        #expect(try server.request("GET", "/v1/refs/main/log", token: "").status == 401)
    }

    /// A file read as it is in a checkpoint, a commit, a ref or another session (`?at=`, and gRPC
    /// Read's `at`): the base side of a review. Only trees the caller can see.
    @Test(arguments: ServerBackend.allCases) func filesReadAtOtherTrees(_ backend: ServerBackend) async throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let s = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        let large = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) })
        #expect(try server.request("PUT", "/v1/sessions/\(s)/files/doc.txt", body: Data("one\n".utf8)).status == 201)
        #expect(try server.request("PUT", "/v1/sessions/\(s)/files/big.bin", body: large).status == 201)
        let checkpoint = try #require(try server.request("POST", "/v1/sessions/\(s)/checkpoints", json: [:]).object()["id"] as? String)
        let commit = try #require(try server.request("POST", "/v1/sessions/\(s)/commits", json: ["message": "one"]).object()["id"] as? String)
        #expect(try server.request("POST", "/v1/sessions/\(s)/promote", json: ["ref": "main"]).status == 200)
        let fork = try #require(try server.request("POST", "/v1/sessions/\(s)/fork").object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(s)/files/doc.txt", body: Data("two\n".utf8)).status == 201)

        #expect(try server.request("GET", "/v1/sessions/\(s)/files/doc.txt").text == "two\n")
        for at in [checkpoint, commit, "main", fork] {
            let old = try server.request("GET", "/v1/sessions/\(s)/files/doc.txt?at=\(at)")
            #expect(old.status == 200 && old.text == "one\n", "at \(at): \(old.status) \(old.text)")
            let range = try server.request("GET", "/v1/sessions/\(s)/files/big.bin?at=\(at)", headers: ["Range": "bytes=100000-100009"])
            #expect(range.status == 206 && range.body == large[100_000..<100_010], "at \(at)")
        }
        let missing = try server.request("GET", "/v1/sessions/\(s)/files/absent.txt?at=main")
        #expect(missing.status == 404 && missing.text.contains("absent.txt does not exist in main"), "\(missing.text)")
        #expect(try server.request("GET", "/v1/sessions/\(s)/files/doc.txt?at=nothing-by-that-name").status == 404)

        // Another tenant sees none of it: neither this session, nor its commit, nor the ref (its
        // own `main` is another ref, which does not exist).
        let other = try #require(try server.request("POST", "/v1/tokens", json: ["tenant": "t2", "role": "writer"]).object()["token"] as? String)
        let theirs = try #require(try server.request("POST", "/v1/sessions", token: other, json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(theirs)/files/doc.txt", token: other, body: Data("theirs\n".utf8)).status == 201)
        for at in [s, checkpoint, commit, "main"] {
            let r = try server.request("GET", "/v1/sessions/\(theirs)/files/doc.txt?at=\(at)", token: other)
            #expect(r.status == 404 || r.status == 403, "t2 read at \(at): \(r.status) \(r.text)")
            #expect(!r.text.contains("one"))
        }

        // gRPC's Read takes the same `at`.
        try await GRPCTests().withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let (data, stat) = try await GRPCTests.read(c, admin, session: s, path: "/doc.txt", at: commit)
            #expect(data == Data("one\n".utf8) && stat.size == 4)
            let (slice, _) = try await GRPCTests.read(c, admin, session: s, path: "/big.bin", offset: 299_990, at: "main")
            #expect(slice == large[299_990...])
            let refused = await GRPCTests.code { _ = try await GRPCTests.read(c, GRPCTests.auth(other), session: theirs, path: "/doc.txt", at: commit) }
            #expect(refused == .notFound || refused == .permissionDenied)
        }
    }
}

import AFSTestSupport
import Foundation
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
}

import AFSTestSupport
import Foundation
import Testing

/// HTTP semantics that hold across the whole API, checked route by route from the served OpenAPI
/// document (so a route added later is covered without touching this file).
@Suite struct HTTPSemanticsTests {
    /// Every GET route answers HEAD as GET would (RFC 9110 §9.3.2): the same status, the same
    /// Content-Type and Content-Length, and no body. Event streams answer HEAD at once.
    @Test func headAnswersEveryGETRouteAsGETWould() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let session = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files/dir/a.txt", body: Data("hello, head".utf8)).status == 201)
        let commit = try #require(try server.request("POST", "/v1/sessions/\(session)/commits", json: ["message": "m"]).object()["id"] as? String)
        #expect(try server.request("POST", "/v1/sessions/\(session)/promote", json: ["ref": "main"]).status == 200)
        for scope in ["/v1", "/v1/sessions/\(session)"] {
            #expect(try server.request("PUT", scope + "/knowledge/k", json: ["v": 1]).status == 200)
        }
        let values = ["id": session, "path": "dir/a.txt", "name": "main", "topic": "t", "workspace": "ws_none", "key": "k"]

        let document = try #require(try JSONSerialization.jsonObject(with: try server.request("GET", "/v1/openapi.json").body) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var checked = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            guard let get = operations["get"] as? [String: Any] else { continue }
            var path = template
            for (name, value) in values { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
            if template.hasPrefix("/v1/commits/") { path = "/v1/commits/\(commit)" }
            #expect(!path.contains("{"), "no value for a parameter of \(template)")
            let auth = [("Authorization", "Bearer \(server.adminToken)")]
            let head = try HTTPTestClient.request("HEAD", server.base + path, headers: auth, timeout: 30)
            #expect(head.body.isEmpty, "HEAD \(path) sent a body")
            #expect(head.status != 404 || template.contains("{workspace}"), "HEAD \(path) is \(head.status)")
            let responses = get["responses"] as? [String: [String: Any]] ?? [:]
            let streams = responses.values.contains { (($0["content"] as? [String: Any])?.keys.contains("text/event-stream")) ?? false }
            if streams { checked += 1; continue }
            let full = try HTTPTestClient.request("GET", server.base + path, headers: auth, timeout: 30)
            #expect(head.status == full.status, "HEAD \(path): \(head.status), GET: \(full.status)")
            #expect(head.header("Content-Type") == full.header("Content-Type"), "HEAD \(path)")
            if let length = full.header("Content-Length") {
                #expect(head.header("Content-Length") == length, "HEAD \(path): Content-Length \(head.header("Content-Length") ?? "none"), GET: \(length)")
            }
            checked += 1
        }
        #expect(checked >= 30, "only \(checked) GET routes found")
        // Without a token HEAD is refused as GET is.
        #expect(try HTTPTestClient.request("HEAD", server.base + "/v1/sessions/\(session)/files/dir/a.txt").status == 401)
    }
}

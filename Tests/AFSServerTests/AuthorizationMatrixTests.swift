import AFSTestSupport
import Foundation
import Testing

/// Every route of the served OpenAPI document × every kind of caller, checked against what the
/// document and the access rules promise. Generated from the document, so a route added later is
/// in the matrix without touching this file.
@Suite struct AuthorizationMatrixTests {
    struct Caller {
        var name: String
        var token: String?
        /// nil: must be refused as unauthenticated.
        var role: String?
        /// Of the tenant that owns the fixtures.
        var ownTenant: Bool
        var storeAdmin = false
    }

    static let rank = ["reader": 0, "writer": 1, "admin": 2]

    /// - No token, or a revoked one: 401 on every route that needs a token.
    /// - A role below the route's `x-required-role`: 403.
    /// - Another tenant's token (writer or admin) on the fixtures' session, its files, commits and
    ///   knowledge: never a success (404, or 403 where its role is short anyway).
    /// - Callers allowed by role and tenant: reads succeed or fail for what the request holds
    ///   (never 401 or 403). Writes by allowed callers are left to the suites of each area (they
    ///   would change the fixtures under the rest of the matrix).
    /// - Routes marked `x-store-admin` (store maintenance): 403 for every tenant's admin.
    /// - Never a 5xx (but 503 for a part that is not configured), for anyone.
    @Test func everyRouteAnswersEachCallerAsDocumented() throws {
        // The failed-token throttle would turn the matrix's many revoked-token requests into 429s.
        let server = try ServerHarness(environment: ["AFS_AUTH_FAILURES": "0"])
        defer { server.cleanup() }
        server.checksContract = false
        func token(_ tenant: String, _ role: String) throws -> String {
            try #require(try server.request("POST", "/v1/tokens", json: ["tenant": tenant, "role": role]).object()["token"] as? String)
        }
        let reader = try token("acme", "reader")
        let writer = try token("acme", "writer")
        let admin = try token("acme", "admin")
        let revoked = try server.request("POST", "/v1/tokens", json: ["tenant": "acme", "role": "admin"]).object()
        let revokedID = try #require(revoked["id"] as? String)
        #expect(try server.request("DELETE", "/v1/tokens/\(revokedID)").status == 204)
        let otherWriter = try token("globex", "writer")
        let otherAdmin = try token("globex", "admin")

        // Fixtures, all the tenant acme's.
        let session = try #require(try server.request("POST", "/v1/sessions", token: writer, json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files/dir/a.txt", token: writer, body: Data("a".utf8)).status == 201)
        let commit = try #require(try server.request("POST", "/v1/sessions/\(session)/commits", token: writer, json: ["message": "m"]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(session)/knowledge/k", token: writer, json: ["v": 1]).status == 200)
        #expect(try server.request("PUT", "/v1/knowledge/k", token: writer, json: ["v": 1]).status == 200)
        let values = ["id": session, "path": "dir/a.txt", "name": "main", "topic": "t", "workspace": "ws_none", "key": "k"]

        let callers = [
            Caller(name: "no token", token: nil, role: nil, ownTenant: true),
            Caller(name: "revoked", token: revoked["token"] as? String, role: nil, ownTenant: true),
            Caller(name: "reader", token: reader, role: "reader", ownTenant: true),
            Caller(name: "writer", token: writer, role: "writer", ownTenant: true),
            Caller(name: "tenant admin", token: admin, role: "admin", ownTenant: true),
            Caller(name: "store admin", token: server.adminToken, role: "admin", ownTenant: true, storeAdmin: true),
            Caller(name: "other tenant's writer", token: otherWriter, role: "writer", ownTenant: false),
            Caller(name: "other tenant's admin", token: otherAdmin, role: "admin", ownTenant: false),
        ]

        let document = try #require(try JSONSerialization.jsonObject(with: try server.request("GET", "/v1/openapi.json").body) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        var problems: [String] = []
        var cells = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for (method, operation) in operations.sorted(by: { $0.key < $1.key }) {
                guard let required = operation["x-required-role"] as? String else { continue }
                let storeAdminOnly = operation["x-store-admin"] as? Bool ?? false
                var path = template
                for (name, value) in values { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
                if template.hasPrefix("/v1/commits/") { path = "/v1/commits/\(commit)" }
                // Another tenant must not reach what belongs to acme: its session and what hangs off it.
                let owned = template.hasPrefix("/v1/sessions/{id}") || template.hasPrefix("/v1/commits/")
                for caller in callers {
                    let allowedRole = (caller.role.map { Self.rank[$0]! >= Self.rank[required]! } ?? false) && (!storeAdminOnly || caller.storeAdmin)
                    let isRead = method == "get"
                    // Allowed writes are not sent: they would change the fixtures.
                    if caller.role != nil, allowedRole, !isRead, caller.ownTenant || !owned { continue }
                    let body: Any? = ["post", "put", "patch"].contains(method) ? [String: Any]() : nil
                    let reply = try server.request(method.uppercased(), path, token: caller.token ?? "", json: body, timeout: 30)
                    cells += 1
                    let cell = "\(method.uppercased()) \(template) as \(caller.name): \(reply.status) \(reply.errorCode ?? "")"
                    // 503 is an answer (afs-vmd is not configured here); anything else 5xx is a bug.
                    if reply.status >= 500 && reply.status != 503 { problems.append(cell + " (a server error)") }
                    if caller.role == nil {
                        if reply.status != 401 { problems.append(cell + " (expected 401)") }
                    } else if !allowedRole {
                        // Short of the role: 403, or 404 for another tenant's resources (it may not learn they exist).
                        if reply.status != 403 && !(reply.status == 404 && owned && !caller.ownTenant) { problems.append(cell + " (expected 403)") }
                    } else if owned && !caller.ownTenant {
                        if (200..<300).contains(reply.status) || reply.status == 401 || reply.status == 403 && isRead {
                            problems.append(cell + " (expected 404: another tenant's)")
                        }
                    } else if reply.status == 401 || reply.status == 403 {
                        problems.append(cell + " (an allowed caller refused)")
                    }
                }
            }
        }
        #expect(cells > 300, "only \(cells) cells")

        // Refs are each tenant's own: the same name in two tenants is two refs; neither sees,
        // logs, diffs against or promotes into the other's.
        #expect(try server.request("POST", "/v1/sessions/\(session)/promote", token: writer, json: ["ref": "main"]).status == 200)
        let theirs = try #require(try server.request("POST", "/v1/sessions", token: otherWriter, json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(theirs)/files/b.txt", token: otherWriter, body: Data("b".utf8)).status == 201)
        #expect(try server.request("POST", "/v1/sessions/\(theirs)/commits", token: otherWriter, json: ["message": "theirs"]).status == 201)
        #expect(try server.request("GET", "/v1/refs", token: otherWriter).array().isEmpty, "another tenant's refs are invisible")
        #expect(try server.request("GET", "/v1/refs/main/log", token: otherWriter).status == 404)
        #expect(try server.request("GET", "/v1/sessions/\(theirs)/diff?against=main", token: otherWriter).status == 404)
        #expect(try server.request("GET", "/v1/sessions/\(theirs)/diff?against=\(commit)", token: otherWriter).status == 404)
        #expect(try server.request("POST", "/v1/sessions", token: otherWriter, json: ["source": ["kind": "commit", "id": commit]]).status == 404)
        let promoted = try server.request("POST", "/v1/sessions/\(theirs)/promote", token: otherWriter, json: ["ref": "main"])
        let promotedRef = try promoted.object()["ref"] as? String
        #expect(promoted.status == 200 && promotedRef == "main", "\(promoted.text)")
        let mine = try server.request("GET", "/v1/refs/main/log", token: reader).array()
        #expect(mine.map { $0["id"] as? String } == [commit], "acme's main did not move")
        #expect(try server.request("GET", "/v1/refs", token: reader).array().map { $0["name"] as? String } == ["main"])
        // The store admin sees both, by their stored names.
        let all = try server.request("GET", "/v1/refs").array().compactMap { $0["name"] as? String }
        #expect(all == ["tenant:acme/main", "tenant:globex/main"], "\(all)")
        let report = problems.joined(separator: "\n")
        #expect(problems.isEmpty, "\(problems.count) cells out of line:\n\(report)")
    }
}

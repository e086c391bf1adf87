import AFSTestSupport
import Foundation
import Testing

/// The per-token rate limit: 429 with Retry-After and the JSON error shape, other tokens and the
/// open routes unaffected, and the budget refills.
@Suite(.offCooperativePool) struct RateLimitTests {
    func status(_ server: ServerProcess, _ path: String, token: String?) throws -> (code: Int, headers: String, body: String) {
        let r = try HTTPTestClient.request("GET", server.base + path, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
        return (r.status, r.headerText, String(decoding: r.body, as: UTF8.self))
    }

    @Test func tokensOverBudgetGet429WithRetryAfter() throws {
        // One request every four seconds: six requests outrun the burst of three even when a loaded
        // machine takes most of a second per request.
        let server = try ServerProcess(environment: ["AFS_RATE_LIMIT": "0.25", "AFS_RATE_BURST": "3"])
        defer { server.cleanup() }
        var codes: [Int] = []
        var limited: (code: Int, headers: String, body: String)?
        for _ in 0..<6 {
            let r = try status(server, "/v1/sessions", token: server.adminToken)
            codes.append(r.code)
            if r.code == 429 { limited = r }
        }
        #expect(codes.prefix(3).allSatisfy { $0 == 200 }, "\(codes)")
        let r = try #require(limited, "no 429 in \(codes)")
        let retry = r.headers.lowercased().split(whereSeparator: \.isNewline).first { $0.hasPrefix("retry-after:") }
        let seconds = retry.flatMap { Int($0.dropFirst("retry-after:".count).trimmingCharacters(in: .whitespaces)) }
        #expect(seconds.map { (1...4).contains($0) } == true, "\(r.headers)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        #expect((body["error"] as? [String: Any])?["code"] as? String == "rate_limited")
        // Open routes are not limited.
        #expect(try status(server, "/v1/health", token: nil).code == 200)
        // The budget refills at the configured rate.
        Thread.sleep(forTimeInterval: 4.2)
        #expect(try status(server, "/v1/sessions", token: server.adminToken).code == 200)
    }
}

import AFSTestSupport
import Foundation
import Testing

@testable import AFSServer

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
    }

    /// The buckets on an injected clock: a burst, then one request per 1/rate seconds, keys apart.
    @Test func bucketsRefillAtTheirRate() {
        let limiter = RateLimiter(rate: 2, burst: 3)
        for _ in 0..<3 { #expect(limiter.take("a", now: 100) == nil) }
        #expect(limiter.take("a", now: 100) == 0.5, "empty: the next token comes in 1/rate s")
        #expect(limiter.wait("a", now: 100.25) == 0.25 && limiter.wait("a", now: 100.5) == nil)
        #expect(limiter.take("b", now: 100) == nil, "another key has its own bucket")
        #expect(limiter.take("a", now: 100.5) == nil && limiter.take("a", now: 100.5) != nil)
        #expect(limiter.wait("a", now: 1000) == nil && limiter.wait("never-seen", now: 0) == nil)
        // Never more than the burst, however long it rested.
        for _ in 0..<3 { #expect(limiter.take("a", now: 5000) == nil) }
        #expect(limiter.take("a", now: 5000) != nil)
    }

    /// Failed authentications per address on an injected clock: the burst, then 429 until the
    /// budget refills; other addresses unaffected.
    @Test func failedAuthenticationsAreThrottledPerAddress() {
        let throttle = AuthenticationThrottle(burst: 3, perMinute: 3)
        for _ in 0..<3 {
            #expect((try? throttle.check("10.0.0.1", now: 0)) != nil)
            throttle.failed("10.0.0.1", now: 0)
        }
        #expect { try throttle.check("10.0.0.1", now: 0) } throws: { ($0 as? APIError)?.status == .tooManyRequests && ($0 as? APIError)?.retryAfter == 20 }
        #expect((try? throttle.check("10.0.0.2", now: 0)) != nil)
        #expect { try throttle.check("10.0.0.1", now: 19) } throws: { ($0 as? APIError)?.retryAfter == 1 }
        #expect((try? throttle.check("10.0.0.1", now: 20)) != nil, "one more try after a third of a minute")
    }

    /// Through the server: bad tokens from one address run out its budget, after which even a
    /// good token from there gets 429 (nothing is checked until the budget refills); requests
    /// without a token cost nothing.
    @Test func badTokensFromOneAddressGet429() throws {
        let server = try ServerProcess(environment: ["AFS_AUTH_FAILURES": "5"])
        defer { server.cleanup() }
        for _ in 0..<10 { #expect(try status(server, "/v1/sessions", token: nil).code == 401) }
        #expect(try status(server, "/v1/sessions", token: server.adminToken).code == 200)
        var codes: [Int] = []
        for i in 0..<7 { codes.append(try status(server, "/v1/sessions", token: "afs_guess_\(i)").code) }
        #expect(codes == [401, 401, 401, 401, 401, 429, 429], "\(codes)")
        let blocked = try status(server, "/v1/sessions", token: server.adminToken)
        #expect(blocked.code == 429 && blocked.body.contains("too_many_failed_authentications"), "\(blocked)")
        let retry = blocked.headers.lowercased().split(whereSeparator: \.isNewline).first { $0.hasPrefix("retry-after:") }
        let seconds = retry.flatMap { Int($0.dropFirst("retry-after:".count).trimmingCharacters(in: .whitespaces)) }
        #expect(seconds.map { (1...12).contains($0) } == true, "5 a minute: one more try within 12 s: \(blocked.headers)")
        #expect(try status(server, "/v1/health", token: nil).code == 200, "open routes stay open")
    }

    /// Unknown console cookies count as failed authentications too, so spraying cookies runs out
    /// the address's budget like guessing tokens does (and then costs no catalog lookup).
    @Test func unknownConsoleCookiesAreThrottledLikeBadTokens() throws {
        let server = try ServerProcess(environment: ["AFS_AUTH_FAILURES": "3"])
        defer { server.cleanup() }
        var codes: [Int] = []
        for i in 0..<5 {
            let r = try HTTPTestClient.request("GET", server.base + "/v1/sessions", headers: [("Cookie", "afs_console=guess\(i)")])
            codes.append(r.status)
        }
        #expect(codes == [401, 401, 401, 429, 429], "\(codes)")
    }
}

import Foundation

/// Slows down guessing: each client address may present `burst` bearer tokens that do not
/// authenticate, refilled at `perMinute` a minute; past that, every request of that address that
/// presents a credential is answered 429 with `Retry-After`, before the credential is checked,
/// until the budget has refilled enough for one more try.
///
/// Tokens are 256 random bits and looked up by their SHA-256, so guessing cannot succeed and no
/// comparison leaks timing; this bounds what a misbehaving or hostile client costs the server and
/// the catalog, and makes scanning loud (every refusal is logged by the caller's address). Only
/// presented credentials count: a request without one is answered 401 and costs nothing. The
/// counts are per process (each replica keeps its own).
final class AuthenticationThrottle: Sendable {
    private let failures: RateLimiter

    init(burst: Int, perMinute: Double) {
        failures = RateLimiter(rate: perMinute / 60, burst: Double(burst))
    }

    var burst: Int { Int(failures.burst) }

    /// Refuses `address` while its budget is spent.
    func check(_ address: String, now: Double = ProcessInfo.processInfo.systemUptime) throws(APIError) {
        guard let wait = failures.wait(address, now: now) else { return }
        let seconds = max(1, Int(wait.rounded(.up)))
        throw APIError(
            .tooManyRequests, "too_many_failed_authentications",
            "more than \(burst) tokens that do not authenticate came from \(address); retry after \(seconds) s with a valid token",
            retryAfter: seconds)
    }

    /// Counts a credential from `address` that did not authenticate.
    func failed(_ address: String, now: Double = ProcessInfo.processInfo.systemUptime) {
        _ = failures.take(address, now: now)
    }
}

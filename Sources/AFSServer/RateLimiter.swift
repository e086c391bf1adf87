import AFSCore
import AFSSupport
import Foundation
import Hummingbird
import Synchronization

/// Token buckets per bearer token: each token may make `rate` requests per second on average and
/// `burst` at once. A client over its budget gets 429 with `Retry-After`, and other tenants are
/// unaffected: one runaway agent cannot starve the fleet.
///
/// With a ``SharedRequestBudget`` (replicas on one catalog) the buckets are the catalog's, shared
/// by the fleet: a replica takes requests from a token's bucket a twentieth of the burst at a
/// time and spends them here, so a client spreading its requests over every replica still gets
/// `rate` in all (plus at most one such share per replica). While the catalog cannot be reached,
/// each replica limits on its own.
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private let buckets = Locked<[String: (tokens: Double, updated: Double)]>([:])
    let shared: (any SharedRequestBudget)?
    /// Requests granted by the shared bucket and not yet spent, per key.
    private let allowance = Locked<[String: Int]>([:])

    init(rate: Double, burst: Double, shared: (any SharedRequestBudget)? = nil) {
        self.rate = rate
        self.burst = max(burst, 1)
        self.shared = shared
    }

    /// Takes one request for `key`, from the shared budget when there is one: nil when allowed,
    /// else the seconds to wait.
    func admit(_ key: String) async -> Double? {
        guard let shared else { return take(key) }
        let spent = allowance.withLock { a -> Bool in
            guard let left = a[key], left > 0 else { return false }
            a[key] = left - 1
            return true
        }
        if spent { return nil }
        let share = max(1, Int(burst / 20))
        let (rate, burst) = (self.rate, self.burst)
        do {
            let (granted, wait) = try await Blocking.run { () throws -> (granted: Int, wait: Double) in
                try shared.takeRequests(key, count: share, rate: rate, burst: burst)
            }
            guard granted > 0 else { return wait }
            allowance.withLock { a in
                a[key, default: 0] += granted - 1
                if a.count > 100_000 { a = a.filter { $0.value > 0 } }
            }
            return nil
        } catch {
            return take(key)
        }
    }

    /// The seconds until `key`'s bucket holds a whole token again, without taking one; nil when
    /// it holds one now.
    func wait(_ key: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
        buckets.withLock { buckets in
            guard let b = buckets[key] else { return nil }
            let tokens = min(burst, b.tokens + (now - b.updated) * rate)
            return tokens >= 1 ? nil : (1 - tokens) / rate
        }
    }

    /// Takes one request from `key`'s bucket: nil when allowed, else the seconds to wait.
    func take(_ key: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
        buckets.withLock { buckets in
            var b = buckets[key] ?? (burst, now)
            b.tokens = min(burst, b.tokens + (now - b.updated) * rate)
            b.updated = now
            defer {
                buckets[key] = b
                if buckets.count > 100_000 { buckets = buckets.filter { now - $0.value.updated < 60 } }
            }
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            return (1 - b.tokens) / rate
        }
    }
}

/// Applies the ``RateLimiter`` after authentication (the bucket is the caller's token); open
/// routes (health, metrics) are not limited.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = AFSRequestContext
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let principal = context.principal, let wait = await limiter.admit(principal.tokenID) {
            let seconds = max(1, Int(wait.rounded(.up)))
            return APIError(
                .tooManyRequests, "rate_limited",
                "more than \(Int(limiter.rate)) requests per second (burst \(Int(limiter.burst))) with this token; retry after \(seconds) s",
                retryAfter: seconds
            ).response
        }
        return try await next(request, context)
    }
}

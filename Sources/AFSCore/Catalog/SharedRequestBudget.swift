/// Request budgets shared by every server on one access catalog, so that a token's rate limit
/// holds across a fleet of replicas instead of once per replica.
///
/// Each budget is a token bucket kept by the catalog and refilled by the catalog's clock. A
/// server takes requests from it a few at a time and spends them locally, so the shared bucket
/// costs one round trip per handful of requests, not one per request.
public protocol SharedRequestBudget: Sendable {
    /// Takes up to `count` requests from `key`'s bucket, which refills at `rate` per second up to
    /// `burst` (a new bucket starts full). Returns how many were granted (0 to `count`) and, when
    /// none were, the seconds until one will be.
    func takeRequests(_ key: String, count: Int, rate: Double, burst: Double) throws(AFSError) -> (granted: Int, wait: Double)
}

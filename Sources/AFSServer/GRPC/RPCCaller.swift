import AFSCore
import AFSWire
import Foundation
import GRPCCore

/// The authenticated caller of one RPC, from its metadata: `authorization: Bearer TOKEN` (checked
/// against the same token database as HTTP), `x-afs-actor` (whom changes are attributed to; the
/// tenant by default) and `x-afs-lock-token` (a lease's fencing token).
struct RPCCaller: Sendable {
    static let authorizationKey = "authorization"
    static let actorKey = "x-afs-actor"
    static let lockTokenKey = "x-afs-lock-token"

    let principal: Principal
    let metadata: Metadata

    /// Authenticates the caller, spends one request of its token's budget, and checks it has at least `role`.
    /// - Throws: UNAUTHENTICATED without a valid token, RESOURCE_EXHAUSTED over the budget (as HTTP's
    ///   429), PERMISSION_DENIED below `role`.
    init(_ metadata: Metadata, access: AccessControl, limiter: RateLimiter?, role: Role) async throws {
        let header = metadata[stringValues: RPCCaller.authorizationKey].first { $0.hasPrefix("Bearer ") }
        guard let header else { throw RPCCaller.unauthenticated }
        let secret = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard let principal = try await Blocking.run({ try access.authenticate(secret: secret) }) else { throw RPCCaller.unauthenticated }
        if let limiter, let wait = await limiter.admit(principal.tokenID) {
            throw RPCError(
                code: .resourceExhausted,
                message: "more than \(Int(limiter.rate)) requests per second with this token; retry after \(String(format: "%.2f", wait)) s",
                metadata: [RPCError.errorCodeKey: .string("rate_limited")])
        }
        try principal.require(role)
        self.principal = principal
        self.metadata = metadata
    }

    private static let unauthenticated = RPCError(
        code: .unauthenticated, message: "missing or invalid bearer token; send metadata authorization: Bearer TOKEN",
        metadata: [RPCError.errorCodeKey: .string("unauthorized")])

    /// Whom changes are attributed to: `x-afs-actor`, else the tenant.
    func actor() throws(APIError) -> String {
        let actor = metadata[stringValues: RPCCaller.actorKey].first(where: { _ in true }) ?? principal.tenant
        guard !actor.isEmpty, actor.utf8.count <= 200 else { throw APIError.badRequest("x-afs-actor must be 1…200 bytes") }
        return actor
    }

    /// The attribution and fencing token of a change: the request's `lock_token` field when set,
    /// else the `x-afs-lock-token` metadata.
    func mutation(lockToken field: UInt64? = nil) throws(APIError) -> MutationContext {
        var token = field
        if token == nil, let raw = metadata[stringValues: RPCCaller.lockTokenKey].first(where: { _ in true }) {
            guard let t = UInt64(raw) else { throw APIError.badRequest("x-afs-lock-token must be a number") }
            token = t
        }
        return MutationContext(actor: try actor(), lockToken: token)
    }
}

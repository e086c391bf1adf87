import AFSCore
import AFSWire

/// Who is calling: resolved from the bearer token, by `AuthMiddleware` over HTTP and by
/// `RPCCaller` over gRPC. Both transports apply the same rules through this type.
public struct Principal: Sendable, Equatable {
    public var tokenID: String
    public var tenant: String
    public var role: Role

    /// The store administrator (the bootstrap token's tenant): sees every tenant's sessions and may
    /// create sessions from the server's own disk. An admin of any other tenant administers only it.
    var isStoreAdmin: Bool { role == .admin && tenant == "admin" }

    /// The key prefix that keeps a tenant's store-wide knowledge entries apart from other tenants'.
    var knowledgeNamespace: String { tenant == "admin" ? "" : "tenant:\(tenant)/" }

    /// Refuses a caller whose role is below `role` (403 over HTTP, PERMISSION_DENIED over gRPC).
    func require(_ role: Role) throws(APIError) {
        guard self.role >= role else { throw APIError.forbidden("this needs the \(role.rawValue) role; the token has \(self.role.rawValue)") }
    }
}

extension MutationContext {
    /// This context, with the sessions it creates or forks owned by `principal`'s tenant.
    func acting(for principal: Principal) -> MutationContext {
        var context = self
        context.tenant = principal.tenant
        return context
    }
}

import AFSCore
import AFSWire
import Foundation

extension RemoteStore {
    /// Creates a token for `tenant` with `role`; needs an admin token. The answer carries the
    /// secret, which the server never shows again.
    public func createToken(tenant: String, role: Role, label: String?) throws(AFSError) -> CreatedToken {
        try json(CreatedToken.self, Call(.POST, "/v1/tokens"), body: RemoteStore.jsonBody(TokenRequest(tenant: tenant, role: role, label: label)))
    }

    /// `GET /v1/tokens`: tokens without their secrets (all for an admin, else the caller's tenant's).
    public func tokens() throws(AFSError) -> [TokenInfo] {
        try json([TokenInfo].self, Call(.GET, "/v1/tokens"))
    }

    /// `DELETE /v1/tokens/{id}`: revokes a token; needs an admin token (a tenant's admin may revoke
    /// that tenant's tokens).
    public func revokeToken(_ id: String) throws(AFSError) {
        _ = try send(Call(.DELETE, "/v1/tokens/\(RemoteStore.escape(id))"))
    }
}

import AFSCore
import AFSWire
import Foundation
import Hummingbird

extension AetherServer {
    func addTokenRoutes(_ api: APIRouteTable) {
        api.tag = "tokens"
        api.add(.post, "/v1/tokens", "Create a token for a tenant (admin). The secret is returned once.", role: .admin, body: .json(TokenRequest.self), replies: [.created(CreatedToken.self)]) { request, context in
            _ = try context.require(.admin)
            let body = try await HTTPHelpers.decode(TokenRequest.self, from: request, context: context)
            let access = self.access
            let (info, secret) = try await Blocking.run { try access.createToken(tenant: body.tenant, role: body.role, label: body.label) }
            return try HTTPHelpers.json(CreatedToken(info, secret: secret), status: .created)
        }
        api.add(.get, "/v1/tokens", "List tokens (admin: all; others: their tenant's).", replies: [.ok([TokenInfo].self)]) { _, context in
            let p = try context.require(.reader)
            let access = self.access
            let all = try await Blocking.run { try access.tokens(tenant: p.isStoreAdmin ? nil : p.tenant) }
            return try HTTPHelpers.json(all)
        }
        api.add(.delete, "/v1/tokens/{token_id}", "Revoke a token (admin, or an admin of the same tenant).", role: .admin, replies: [.noContent]) { _, context in
            let p = try context.require(.admin)
            let id = try context.parameters.require("token_id")
            let access = self.access
            let ok = try await Blocking.run { try access.revoke(tokenID: id, tenant: p.tenant == "admin" ? nil : p.tenant) }
            guard ok else { throw APIError.notFound("token \(id) does not exist") }
            return Response(status: .noContent)
        }
    }
}

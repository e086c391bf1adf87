import Foundation

/// The answer to `POST /v1/tokens`: the token and, this once, its secret.
public struct CreatedToken: WireModel, Equatable {
    public var id: String
    public var tenant: String
    public var role: Role
    public var label: String?
    public var createdAt: Date
    /// The bearer secret. The server keeps only its hash: it is never shown again.
    public var token: String

    enum CodingKeys: String, CodingKey {
        case id, tenant, role, label, token
        case createdAt = "created_at"
    }

    public init(_ info: TokenInfo, secret: String) {
        id = info.id
        tenant = info.tenant
        role = info.role
        label = info.label
        createdAt = info.createdAt
        token = secret
    }

    public var info: TokenInfo { TokenInfo(id: id, tenant: tenant, role: role, label: label, createdAt: createdAt) }
}

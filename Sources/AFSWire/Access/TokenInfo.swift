import Foundation

/// A token as listed (never the secret).
public struct TokenInfo: WireModel, Equatable {
    public var id: String
    public var tenant: String
    public var role: Role
    public var label: String?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, tenant, role, label
        case createdAt = "created_at"
    }

    public init(id: String, tenant: String, role: Role, label: String? = nil, createdAt: Date) {
        self.id = id
        self.tenant = tenant
        self.role = role
        self.label = label
        self.createdAt = createdAt
    }
}

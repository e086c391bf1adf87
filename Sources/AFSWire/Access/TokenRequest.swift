/// `POST /v1/tokens`: a token for a tenant.
public struct TokenRequest: WireModel, Equatable {
    public var tenant: String
    public var role: Role
    public var label: String?

    public init(tenant: String, role: Role, label: String? = nil) {
        self.tenant = tenant
        self.role = role
        self.label = label
    }
}

import AFSWire

/// `GET /console/me`: who is signed in to the console, and the CSRF token its page sends with every change.
struct ConsoleIdentity: Codable, Sendable {
    /// The name the console acts under (changefeed, reviews): the token's label, else its tenant.
    var actor: String
    var tenant: String
    var role: Role
    var tokenID: String
    var csrf: String
    /// Whether the cookie was set for HTTPS only.
    var secure: Bool

    enum CodingKeys: String, CodingKey {
        case actor, tenant, role, csrf, secure
        case tokenID = "token_id"
    }
}

import Foundation

/// A web console sign-in as an access catalog keeps it: the SHA-256 of the cookie's value (the
/// cookie itself is never stored), the SHA-256 of the token it was opened with (as the token is
/// stored), the page's CSRF token and when it ends.
///
/// Kept in the catalog rather than in one server's memory, so a restart does not sign people out
/// and any server sharing the catalog (replicas) honours the cookie.
public struct StoredSignIn: Sendable, Equatable {
    /// Hex SHA-256 of the cookie's value.
    public var idHash: String
    /// Hex SHA-256 of the bearer token's secret, the key of ``StoredToken/secretHash``.
    public var tokenHash: String
    /// The CSRF token the console's page sends with every state-changing request.
    public var csrf: String
    /// When the sign-in ends (wall clock, shared by every server on the catalog).
    public var expiresAt: Date

    public init(idHash: String, tokenHash: String, csrf: String, expiresAt: Date) {
        self.idHash = idHash
        self.tokenHash = tokenHash
        self.csrf = csrf
        self.expiresAt = expiresAt
    }
}

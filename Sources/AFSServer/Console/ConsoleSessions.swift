import AFSCore
import AFSSupport
import Foundation

/// Who is signed in to the web console: an opaque cookie value standing for the bearer token it
/// was opened with, and a CSRF token.
///
/// The token never leaves the server again after sign-in: not in a URL, not in the page's
/// storage; the browser holds only the cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS).
/// The access catalog keeps the sign-in (``StoredSignIn``: hashes of the cookie and of the token,
/// never either in clear), so a restart keeps people signed in and every server sharing the
/// catalog honours the cookie. Each request authenticates the token anew, so revoking it signs
/// the console out at once.
struct ConsoleSessions: Sendable {
    /// A live sign-in: the token's hash and the page's CSRF token.
    struct Entry: Sendable {
        let tokenHash: String
        let csrf: String
    }

    static let cookieName = "afs_console"
    /// How long a sign-in lasts.
    static let lifetime: Duration = .seconds(12 * 3600)

    let access: AccessControl
    /// The wall clock sign-ins expire by (injected by tests).
    let now: @Sendable () -> Date

    init(access: AccessControl, now: @escaping @Sendable () -> Date = { Date() }) {
        self.access = access
        self.now = now
    }

    /// Opens a sign-in for `secret` (already authenticated); returns the cookie value. Ended
    /// sign-ins are forgotten on the way.
    func open(secret: String) throws -> String {
        let id = ConsoleSessions.randomToken()
        let now = self.now()
        try access.records.deleteSignIns(expiredBefore: now)
        try access.records.insertSignIn(
            StoredSignIn(
                idHash: AccessControl.hash(id), tokenHash: AccessControl.hash(secret), csrf: ConsoleSessions.randomToken(),
                expiresAt: now.addingTimeInterval(Double(ConsoleSessions.lifetime.components.seconds))))
        return id
    }

    /// The live sign-in behind a cookie value; nil when there is none or it has ended.
    func entry(_ id: String) throws -> Entry? {
        let hash = AccessControl.hash(id)
        guard let stored = try access.records.signIn(idHash: hash) else { return nil }
        guard stored.expiresAt > now() else {
            try access.records.deleteSignIn(idHash: hash)
            return nil
        }
        return Entry(tokenHash: stored.tokenHash, csrf: stored.csrf)
    }

    /// The sign-in behind a cookie value with its principal, if it is live and its token valid;
    /// a sign-in whose token was revoked is ended.
    func signedIn(_ id: String) throws -> (entry: Entry, principal: Principal)? {
        guard let entry = try entry(id) else { return nil }
        guard let principal = try access.authenticate(secretHash: entry.tokenHash) else {
            try close(id)
            return nil
        }
        return (entry, principal)
    }

    func close(_ id: String) throws {
        try access.records.deleteSignIn(idHash: AccessControl.hash(id))
    }

    /// 32 random bytes as lowercase hex.
    static func randomToken() -> String { RandomID.hex(bytes: 32) }

    /// The console cookie's value in a `Cookie` header, if any.
    static func cookie(in header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookieName + "=") { return String(pair.dropFirst(cookieName.count + 1)) }
        }
        return nil
    }

    /// The `Set-Cookie` value for `id` (empty and expired to sign out).
    static func setCookie(_ id: String?, secure: Bool) -> String {
        var parts = ["\(cookieName)=\(id ?? "")", "Path=/", "HttpOnly", "SameSite=Strict"]
        parts.append(id == nil ? "Max-Age=0" : "Max-Age=\(Int(lifetime.components.seconds))")
        if secure { parts.append("Secure") }
        return parts.joined(separator: "; ")
    }
}

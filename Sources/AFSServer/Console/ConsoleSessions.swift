import AFSSupport
import Foundation
import Synchronization

/// Who is signed in to the web console: an opaque cookie value mapped to the bearer token it was
/// opened with and a CSRF token.
///
/// The token never leaves the server again after sign-in: not in a URL, not in the page's
/// storage; the browser holds only the cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS).
/// Each request authenticates the token anew, so revoking it signs the console out at once.
/// Sign-ins live in this process's memory: a restart signs everyone out.
final class ConsoleSessions: Sendable {
    struct Entry: Sendable {
        let secret: String
        let csrf: String
        let expires: ContinuousClock.Instant
    }

    static let cookieName = "afs_console"
    /// How long a sign-in lasts.
    static let lifetime: Duration = .seconds(12 * 3600)
    /// More sign-ins than this and the oldest go first.
    static let limit = 10_000

    private let entries = Locked<[String: Entry]>([:])

    /// Opens a sign-in for `secret`; returns the cookie value.
    func open(secret: String) -> String {
        let id = ConsoleSessions.randomToken()
        let entry = Entry(secret: secret, csrf: ConsoleSessions.randomToken(), expires: .now + ConsoleSessions.lifetime)
        entries.withLock { all in
            let now = ContinuousClock.now
            if all.count >= ConsoleSessions.limit { all = all.filter { $0.value.expires > now } }
            if all.count >= ConsoleSessions.limit, let oldest = all.min(by: { $0.value.expires < $1.value.expires })?.key { all[oldest] = nil }
            all[id] = entry
        }
        return id
    }

    /// The live sign-in behind a cookie value.
    func entry(_ id: String) -> Entry? {
        entries.withLock { all in
            guard let e = all[id] else { return nil }
            if e.expires <= .now {
                all[id] = nil
                return nil
            }
            return e
        }
    }

    func close(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
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

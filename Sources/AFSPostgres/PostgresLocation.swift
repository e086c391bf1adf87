import AFSCore
import Foundation

/// Where the clustered catalog lives: a `postgres://` (or `postgresql://`) URL, as libpq writes it.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`. A password
/// may also come from `PGPASSWORD`; it is never printed (``description`` leaves it out).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        /// Plaintext: loopback and private networks only.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or nothing (the certificate is not checked, as libpq's `require`).
        case require
        /// TLS with the certificate checked against the system's trust store and the host name
        /// (`verify-ca` and `verify-full`).
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a URL; `environment` supplies `PGPASSWORD` when the URL has no password.
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(AFSError) {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw AFSError(.invalidArgument, "catalog '\(PostgresLocation.redacted(text))' is not a postgres:// URL (postgres://USER@HOST:PORT/DATABASE)")
        }
        guard let host = url.host, !host.isEmpty else {
            throw AFSError(.invalidArgument, "catalog URL \(PostgresLocation.redacted(text)) names no host (postgres://USER@HOST:PORT/DATABASE)")
        }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw AFSError(.invalidArgument, "catalog URL \(PostgresLocation.redacted(text)) names no database (postgres://USER@HOST:PORT/DATABASE)")
        }
        var tls = TLSMode.prefer
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require": tls = .require
                case "verify-ca", "verify-full": tls = .verifyFull
                default: throw AFSError(.invalidArgument, "catalog URL: sslmode '\(item.value ?? "")' is not disable, prefer, require, verify-ca or verify-full")
                }
            case "application_name", "connect_timeout": break
            default: throw AFSError(.invalidArgument, "catalog URL: unknown parameter '\(item.name)' (known: sslmode)")
            }
        }
        self.init(
            host: host, port: url.port ?? 5432,
            user: url.percentEncodedUser?.removingPercentEncoding ?? environment["PGUSER"] ?? "postgres",
            password: url.percentEncodedPassword?.removingPercentEncoding ?? environment["PGPASSWORD"], database: database, tls: tls)
    }

    /// The URL without its password, for messages and logs.
    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// `text` with whatever stands between `://USER:` and `@` replaced, whether or not it parses
    /// as a URL (a password with a space or a stray `%` does not).
    static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text.range(of: "@", options: .backwards),
            scheme.upperBound < at.lowerBound,
            let colon = text[scheme.upperBound..<at.lowerBound].firstIndex(of: ":")
        else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at.lowerBound...])
    }
}

import AFSWire
import HTTPTypes
import Hummingbird
import Logging

/// Per-request state: Hummingbird's core storage plus the authenticated caller.
public struct AFSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// The address of the connection's peer (the proxy's, behind one).
    public var peer: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
        peer = source.channel.remoteAddress?.ipAddress
    }

    /// JSON bodies are small; files and archives are streamed and never collected whole.
    public var maxUploadSize: Int { 4 << 20 }

    func require(_ role: Role) throws -> Principal {
        guard let p = principal else { throw APIError.unauthorized }
        try p.require(role)
        return p
    }
}

/// Resolves the caller: `Authorization: Bearer TOKEN`, or the web console's sign-in cookie.
///
/// A cookie rides along with any request the browser makes to this origin, a forged cross-site
/// form post included, so a request authenticated by the cookie that changes state must also
/// carry the console's CSRF token (`X-CSRF-Token`, which another site cannot read). Bearer
/// tokens need no such check: a browser never attaches them by itself. The console's own pages
/// and the open paths (health, metrics, OpenAPI) pass through.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AFSRequestContext
    let access: AccessControl
    let openPaths: Set<String>
    let console: ConsoleSessions
    /// Failed authentications per client address (nil: not limited).
    let throttle: AuthenticationThrottle?
    /// Believe `X-Forwarded-For` from the peer (a proxy that is the only way in).
    let trustForwardedHeaders: Bool

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// Who is asking, for the throttle: the peer, or behind a trusted proxy the address it saw
    /// (the last `X-Forwarded-For` entry, the one the proxy itself appended).
    static func clientAddress(_ request: Request, peer: String?, trustForwardedHeaders: Bool) -> String {
        if trustForwardedHeaders, let forwarded = request.headers[forwardedFor],
            let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        {
            return last
        }
        return peer ?? "unknown"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if openPaths.contains(path) || ConsoleRoutes.isConsolePath(path) { return try await next(request, context) }
        // Throttled before any lookup: a client spraying cookies or tokens costs no catalog query
        // once its failures are over the limit.
        let address = AuthMiddleware.clientAddress(request, peer: context.peer, trustForwardedHeaders: trustForwardedHeaders)
        try throttle?.check(address)
        let secret: Credential
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer ") else { throw APIError.unauthorized }
            secret = .token(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        } else if let id = ConsoleSessions.cookie(in: request.headers[.cookie]) {
            let console = self.console
            guard let entry = try await Blocking.run({ try console.entry(id) }) else {
                throttle?.failed(address)
                throw APIError.unauthorized
            }
            if ![.get, .head, .options].contains(request.method) {
                guard let sent = request.headers[AuthMiddleware.csrfHeader], ConsoleRoutes.constantTimeEqual(sent, entry.csrf) else {
                    throw APIError(.forbidden, "csrf", "missing or wrong X-CSRF-Token: a request signed in by the console's cookie must carry the page's CSRF token")
                }
            }
            secret = .hash(entry.tokenHash)
        } else {
            throw APIError.unauthorized
        }
        let access = self.access
        guard let principal = try await Blocking.run({ try access.authenticate(secretHash: secret.hash) }) else {
            throttle?.failed(address)
            throw APIError.unauthorized
        }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }
}

extension AuthMiddleware {
    /// What a request authenticates with: a bearer token, or the token's hash behind a console
    /// sign-in (the catalog keeps only the hash).
    enum Credential {
        case token(String)
        case hash(String)

        var hash: String {
            switch self {
            case .token(let secret): AccessControl.hash(secret)
            case .hash(let hash): hash
            }
        }
    }
}

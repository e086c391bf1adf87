import Hummingbird
import Logging

/// Per-request state: Hummingbird's core storage plus the authenticated caller.
public struct AFSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
    }

    /// JSON bodies are small; files and archives are streamed and never collected whole.
    public var maxUploadSize: Int { 4 << 20 }

    func require(_ role: Role) throws -> Principal {
        guard let p = principal else { throw APIError.unauthorized }
        try p.require(role)
        return p
    }
}

/// Resolves `Authorization: Bearer TOKEN`; only the health check is open.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AFSRequestContext
    let access: AccessControl
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw APIError.unauthorized }
        let secret = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let access = self.access
        guard let principal = try await Blocking.run({ try access.authenticate(secret: secret) }) else { throw APIError.unauthorized }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }
}

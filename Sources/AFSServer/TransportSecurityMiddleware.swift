import Hummingbird
import HTTPTypes

/// Sends `Strict-Transport-Security` (RFC 6797) on every answer to a request that arrived over
/// TLS, so a browser that once reached the service over https never tries plain http again.
///
/// A request is secure when this server terminated TLS itself, or, with `trustForwardedHeaders`,
/// when the TLS-terminating proxy in front says so in `X-Forwarded-Proto: https`. Plain-http
/// answers never carry the header (browsers ignore it there anyway).
struct TransportSecurityMiddleware<Context: RequestContext>: RouterMiddleware {
    let servedOverTLS: Bool
    let trustForwardedHeaders: Bool
    /// One year, sub-domains left alone: the service may share a domain with others.
    static var policy: String { "max-age=31536000" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if TransportSecurityMiddleware.isSecure(request, servedOverTLS: servedOverTLS, trustForwardedHeaders: trustForwardedHeaders) {
            response.headers[.strictTransportSecurity] = TransportSecurityMiddleware.policy
        }
        return response
    }

    /// Whether `request` reached the service over TLS (its own, or a trusted proxy's).
    static func isSecure(_ request: Request, servedOverTLS: Bool, trustForwardedHeaders: Bool) -> Bool {
        if servedOverTLS { return true }
        guard trustForwardedHeaders, let name = HTTPField.Name("X-Forwarded-Proto"), let proto = request.headers[name] else { return false }
        // A chain of proxies appends: the first value is what the client used.
        return proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web console's own routes: its pages and files, sign-in and sign-out. Everything else the
/// console shows comes from the JSON API under `/v1`, called by the page with the sign-in cookie.
enum ConsoleRoutes {
    /// Paths the console serves itself (no bearer token: the cookie, or nothing).
    static func isConsolePath(_ path: String) -> Bool {
        path == "/" || path.hasPrefix("/console/")
    }

    /// Headers on every console answer: nothing runs but the console's own script, nothing frames
    /// it, nothing leaks the URL to other sites (same-origin referrers only: with none at all,
    /// Chromium would send `Origin: null` on the sign-in form, indistinguishable from a forged post). A name or file that slips past the page's escaping
    /// still cannot run a script.
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        HTTPField.Name("Cache-Control")!: "no-store",
    ]

    static func page(_ body: Data, type: String, extra: HTTPFields = [:]) -> Response {
        page(.ok, body, type: type, extra: extra)
    }

    static func page(_ status: HTTPResponse.Status, _ body: Data, type: String, extra: HTTPFields = [:]) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func redirect(_ location: String, extra: HTTPFields = [:]) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        headers.append(contentsOf: extra)
        return Response(status: .seeOther, headers: headers)
    }

    /// Text for HTML: `&`, `<`, `>`, `"` and `'` as entities.
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Compares secrets in time independent of where they differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    /// Whether a state-changing request came from this origin: its `Origin` (or, failing that,
    /// `Referer`) names the host it was sent to. Browsers send `Origin` on every cross-site POST.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] else { return false }
        let origin = request.headers[HTTPField.Name("Origin")!] ?? request.headers[HTTPField.Name("Referer")!]
        guard let origin, origin != "null", let url = URL(string: origin), let originHost = url.host else {
            // No Origin and no Referer: not a browser form post (curl, scripts); the cookie is not at stake.
            return origin == nil
        }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        return originAuthority.lowercased() == host.lowercased()
    }

    /// The fields of an `application/x-www-form-urlencoded` body.
    static func formFields(_ body: Data) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ") }
            guard let key = parts.first?.removingPercentEncoding else { continue }
            fields[key] = parts.count > 1 ? parts[1].removingPercentEncoding ?? "" : ""
        }
        return fields
    }
}

extension AetherServer {
    /// Whether `request` reached this server over TLS (its own, or a trusted proxy's).
    func isSecure(_ request: Request) -> Bool {
        TransportSecurityMiddleware<AFSRequestContext>.isSecure(
            request, servedOverTLS: configuration.tls != nil, trustForwardedHeaders: configuration.trustForwardedHeaders)
    }

    /// The sign-in behind the request's cookie, with its principal, if it is live and its token valid.
    func consoleSignIn(_ request: Request) async throws -> (id: String, entry: ConsoleSessions.Entry, principal: Principal)? {
        guard let id = ConsoleSessions.cookie(in: request.headers[.cookie]) else { return nil }
        let sessions = consoleSessions
        guard let signIn = try await Blocking.run({ try sessions.signedIn(id) }) else { return nil }
        return (id, signIn.entry, signIn.principal)
    }

    func addConsoleRoutes(_ router: Router<AFSRequestContext>) {
        let assets = consoleAssets
        // The app when signed in, the sign-in page otherwise.
        router.get("/") { [self] request, _ -> Response in
            let signedIn = try await consoleSignIn(request) != nil
            guard let asset = assets[signedIn ? "index.html" : "sign-in.html"] else {
                return ConsoleRoutes.page(.serviceUnavailable, Data("the console's files are missing from this build".utf8), type: "text/plain; charset=utf-8")
            }
            var body = asset.body
            if !signedIn {
                let failed = request.uri.queryParameters["error"] != nil
                let message = failed ? "That token was not accepted. Check it, or ask an admin for one (aether token create)." : ""
                body = Data(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "{{error}}", with: ConsoleRoutes.escape(message)).utf8)
            }
            return ConsoleRoutes.page(body, type: asset.contentType)
        }
        router.get("/console/assets/{name}") { request, context -> Response in
            let name = try context.parameters.require("name")
            guard !name.hasSuffix(".html"), let asset = assets[name] else { throw HTTPError(.notFound) }
            return ConsoleRoutes.page(asset.body, type: asset.contentType)
        }
        // The token is posted once, from the sign-in form, and kept on the server; the browser gets
        // an opaque cookie.
        router.post("/console/sign-in") { [self] request, context -> Response in
            guard ConsoleRoutes.sameOrigin(request) else {
                return ConsoleRoutes.page(.forbidden, Data("sign-in refused: the form was not posted from this site".utf8), type: "text/plain; charset=utf-8")
            }
            let body = try await request.body.collect(upTo: 16 << 10)
            let token = (ConsoleRoutes.formFields(Data(body.readableBytesView))["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let access = self.access
            let address = AuthMiddleware.clientAddress(request, peer: context.peer, trustForwardedHeaders: configuration.trustForwardedHeaders)
            try authThrottle?.check(address)
            guard !token.isEmpty, try await Blocking.run({ try access.authenticate(secret: token) }) != nil else {
                if !token.isEmpty { authThrottle?.failed(address) }
                return ConsoleRoutes.redirect("/?error=1")
            }
            let sessions = consoleSessions
            let id = try await Blocking.run { try sessions.open(secret: token) }
            return ConsoleRoutes.redirect("/", extra: [.setCookie: ConsoleSessions.setCookie(id, secure: isSecure(request))])
        }
        router.post("/console/sign-out") { [self] request, _ -> Response in
            let sessions = consoleSessions
            guard let id = ConsoleSessions.cookie(in: request.headers[.cookie]), let entry = try await Blocking.run({ try sessions.entry(id) }) else {
                return ConsoleRoutes.redirect("/", extra: [.setCookie: ConsoleSessions.setCookie(nil, secure: isSecure(request))])
            }
            let body = try await request.body.collect(upTo: 16 << 10)
            let sent = request.headers[AuthMiddleware.csrfHeader] ?? ConsoleRoutes.formFields(Data(body.readableBytesView))["csrf"] ?? ""
            guard ConsoleRoutes.constantTimeEqual(sent, entry.csrf) else {
                return ConsoleRoutes.page(.forbidden, Data("sign-out refused: missing or wrong CSRF token".utf8), type: "text/plain; charset=utf-8")
            }
            try await Blocking.run { try sessions.close(id) }
            return ConsoleRoutes.redirect("/", extra: [.setCookie: ConsoleSessions.setCookie(nil, secure: isSecure(request))])
        }
        // Who is signed in, and the CSRF token the page sends with every change.
        router.get("/console/me") { [self] request, _ -> Response in
            guard let signIn = try await consoleSignIn(request) else { throw APIError.unauthorized }
            // The name the console acts under (changefeed, reviews): the token's label, else its tenant.
            let principal = signIn.principal
            let access = self.access
            let label = try? await Blocking.run { try access.tokens(tenant: principal.tenant).first { $0.id == principal.tokenID }?.label }
            let me = ConsoleIdentity(
                actor: (label ?? nil).flatMap { $0.isEmpty ? nil : $0 } ?? principal.tenant,
                tenant: principal.tenant, role: principal.role, tokenID: principal.tokenID, csrf: signIn.entry.csrf, secure: isSecure(request))
            let data = try HTTPHelpers.encoder.encode(me)
            return ConsoleRoutes.page(data, type: "application/json")
        }
    }
}

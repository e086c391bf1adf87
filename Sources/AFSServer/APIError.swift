import AFSCore
import AFSWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// The one error shape of the HTTP API: `{"error": {"code": "...", "message": "..."}}`.
struct APIError: Error, Sendable {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// Seconds after which a retry may succeed (`Retry-After`, with 429 and 503).
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "missing or invalid bearer token; pass Authorization: Bearer TOKEN")
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }

    /// How each engine error reaches HTTP. Bad input is never a 500.
    init(_ error: AFSError) {
        switch error.code {
        case .notFound: self.init(.notFound, error.code.rawValue, error.message)
        case .alreadyExists, .conflict, .notEmpty: self.init(.conflict, error.code.rawValue, error.message)
        case .wrongKind: self.init(.conflict, error.code.rawValue, error.message)
        case .invalidPath, .invalidArgument: self.init(.badRequest, error.code.rawValue, error.message)
        case .locked: self.init(.conflict, error.code.rawValue, error.message)
        case .forbidden: self.init(.forbidden, error.code.rawValue, error.message)
        case .expired: self.init(.gone, error.code.rawValue, error.message)
        case .storeLocked, .unavailable: self.init(.serviceUnavailable, error.code.rawValue, error.message)
        // Only an upstream the server itself calls over TLS (an S3 endpoint) can fail this way.
        case .untrustedServer: self.init(.badGateway, error.code.rawValue, error.message)
        case .corrupted, .io, .unsupportedFormat, .externalTool: self.init(.internalServerError, error.code.rawValue, error.message)
        }
    }

    var response: Response {
        let data = (try? HTTPHelpers.encoder.encode(ErrorReply(code: code, message: message))) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error a handler throws into the API's JSON shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return e.response
        } catch let e as AFSError {
            return APIError(e).response
        } catch let e as HTTPError {
            let code: String
            var message = e.body ?? e.status.reasonPhrase
            switch e.status {
            case .contentTooLarge: code = "too_large"
            case .notFound:
                // Handlers throw AFSError/APIError for missing things; an HTTPError 404 is the router's.
                code = "no_route"
                message = "no route for \(request.method.rawValue) \(request.uri.path); see /v1/openapi.json"
            case .badRequest: code = "bad_request"
            default: code = "http_\(e.status.code)"
            }
            return APIError(e.status, code, message).response
        } catch let e as HTTPParserError {
            // A body that ends before its length or last chunk (the client went away or lied).
            return APIError(.badRequest, "malformed_http", "the request is malformed or ended early (\(e)); nothing was written").response
        } catch is NIOTooManyBytesError {
            return APIError(.contentTooLarge, "too_large", "the body is larger than this route accepts").response
        } catch is DecodingError {
            return APIError(.unprocessableContent, "invalid_json", "the JSON body does not match the expected shape").response
        } catch {
            context.logger.error("unexpected error: \(error)")
            return APIError(.internalServerError, "internal", "internal error; see the server log").response
        }
    }
}

import AFSWorkspaces
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An API failure as `{"error": {"code", "message"}}` with the matching HTTP status.
struct WorkspaceAPIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: WorkspaceError) {
        let status = HTTPResponse.Status(code: error.code.httpStatus)
        self.init(status, error.code.rawValue, error.message)
    }

    static let unauthorized = WorkspaceAPIError(
        .unauthorized, "unauthorized", "missing or wrong bearer token; pass the token from afs-vmd's DATA/vmd.token (--workspaces-token or AFS_WORKSPACES_TOKEN)")

    static func badRequest(_ message: String) -> WorkspaceAPIError { WorkspaceAPIError(.badRequest, "invalid_argument", message) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(ErrorBody(error: .init(code: code, message: message)))) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// afs-vmd's error body, the same shape as afs-server's: `{"error": {"code": "...", "message": "..."}}`.
private struct ErrorBody: Encodable {
    struct Detail: Encodable {
        var code: String
        var message: String
    }

    var error: Detail
}

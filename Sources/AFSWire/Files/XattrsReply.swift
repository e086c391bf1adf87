/// `GET /v1/sessions/{id}/xattrs`: a path's extended attributes, values in base64 (they are bytes).
public struct XattrsReply: WireModel, Equatable {
    public var path: String
    public var xattrs: [String: String]
    public init(path: String, xattrs: [String: String]) {
        self.path = path
        self.xattrs = xattrs
    }
}

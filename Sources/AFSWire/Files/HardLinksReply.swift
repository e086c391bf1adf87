/// `GET /v1/sessions/{id}/links`: every name of a file, sorted.
public struct HardLinksReply: WireModel, Equatable {
    public var path: String
    public var names: [String]
    public init(path: String, names: [String]) {
        self.path = path
        self.names = names
    }
}

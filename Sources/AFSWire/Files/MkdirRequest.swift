/// `POST /v1/sessions/{id}/mkdir`.
public struct MkdirRequest: WireModel, Equatable {
    public var path: String
    /// Create missing parents too (`mkdir -p`).
    public var parents: Bool?
    public var mode: UInt32?
    public init(path: String, parents: Bool? = nil, mode: UInt32? = nil) {
        self.path = path
        self.parents = parents
        self.mode = mode
    }
}

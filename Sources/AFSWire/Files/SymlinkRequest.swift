/// `POST /v1/sessions/{id}/symlink`: the target is stored as given, never followed.
public struct SymlinkRequest: WireModel, Equatable {
    public var path: String
    public var target: String
    public init(path: String, target: String) {
        self.path = path
        self.target = target
    }
}

/// `POST /v1/sessions/{id}/rename`.
public struct RenameRequest: WireModel, Equatable {
    public var from: String
    public var to: String
    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }
}

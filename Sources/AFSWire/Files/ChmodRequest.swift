/// `POST /v1/sessions/{id}/chmod`.
public struct ChmodRequest: WireModel, Equatable {
    public var path: String
    public var mode: UInt32
    public init(path: String, mode: UInt32) {
        self.path = path
        self.mode = mode
    }
}

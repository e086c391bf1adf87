/// `POST /v1/sessions/{id}/link`: give the file at `from` another name `to`.
public struct LinkRequest: WireModel, Equatable {
    public var from: String
    public var to: String
    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }
}

/// `POST /v1/sessions/{id}/fork` (the body is optional).
public struct ForkRequest: WireModel, Equatable {
    public var name: String?
    public init(name: String? = nil) { self.name = name }
}

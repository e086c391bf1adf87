/// `POST /v1/sessions/{id}/review/approve` or `/reject` (the body is optional).
public struct DecisionRequest: WireModel, Equatable {
    public var comment: String?
    public init(comment: String? = nil) { self.comment = comment }
}

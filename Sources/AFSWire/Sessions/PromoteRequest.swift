/// `POST /v1/sessions/{id}/promote`: the ref to move to the session's latest commit.
public struct PromoteRequest: WireModel, Equatable {
    public var ref: String
    public init(ref: String) { self.ref = ref }
}

/// How many approvals a promote into a ref needs (`GET`/`PUT /v1/refs/{name}/policy`).
public struct RefPolicy: WireModel, Equatable {
    public var ref: String
    /// 0: none.
    public var requiredApprovals: Int

    enum CodingKeys: String, CodingKey {
        case ref
        case requiredApprovals = "required_approvals"
    }

    public init(ref: String, requiredApprovals: Int) {
        self.ref = ref
        self.requiredApprovals = requiredApprovals
    }
}

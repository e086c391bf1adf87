/// `PUT /v1/refs/{name}/policy`.
public struct RefPolicyRequest: WireModel, Equatable {
    public var requiredApprovals: Int

    enum CodingKeys: String, CodingKey { case requiredApprovals = "required_approvals" }

    public init(requiredApprovals: Int) { self.requiredApprovals = requiredApprovals }
}

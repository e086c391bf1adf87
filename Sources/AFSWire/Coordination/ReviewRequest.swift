/// `POST /v1/sessions/{id}/review` (the body is optional).
public struct ReviewRequest: WireModel, Equatable {
    public var reviewers: [String]?
    public var requiredApprovals: Int?

    enum CodingKeys: String, CodingKey {
        case reviewers
        case requiredApprovals = "required_approvals"
    }

    public init(reviewers: [String]? = nil, requiredApprovals: Int? = nil) {
        self.reviewers = reviewers
        self.requiredApprovals = requiredApprovals
    }
}

import Foundation

/// A review request and its decisions.
public struct ReviewState: Sendable, Codable, Equatable {
    public struct Decision: Sendable, Codable, Equatable {
        public var reviewer: String
        public var approved: Bool
        public var comment: String
        public var time: Int64

        public init(reviewer: String, approved: Bool, comment: String, time: Int64) {
            self.reviewer = reviewer
            self.approved = approved
            self.comment = comment
            self.time = time
        }
    }

    public var session: String
    public var status: SessionStatus
    public var reviewers: [String]
    public var requiredApprovals: Int
    public var requestedBy: String?
    public var decisions: [Decision]

    enum CodingKeys: String, CodingKey {
        case session, status, reviewers, decisions
        case requiredApprovals = "required_approvals"
        case requestedBy = "requested_by"
    }
}

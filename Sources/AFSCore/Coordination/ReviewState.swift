import Foundation

/// A review request and its decisions.
public struct ReviewState: Sendable, Codable, Equatable {
    /// One reviewer's verdict; a later decision by the same reviewer replaces it.
    public struct Decision: Sendable, Codable, Equatable {
        /// Who decided; must be a named reviewer when any were named.
        public var reviewer: String
        /// True for an approval; false for a rejection, which rejects the session.
        public var approved: Bool
        /// The reviewer's comment, possibly empty.
        public var comment: String
        /// Nanoseconds since 1970, by the store's clock.
        public var time: Int64

        /// Memberwise initializer.
        public init(reviewer: String, approved: Bool, comment: String, time: Int64) {
            self.reviewer = reviewer
            self.approved = approved
            self.comment = comment
            self.time = time
        }
    }

    /// ID of the reviewed session.
    public var session: String
    /// The session's current status (`pending-approval`, `approved`, `rejected`, …).
    public var status: SessionStatus
    /// Reviewers named in the request; empty means anyone may decide.
    public var reviewers: [String]
    /// Approvals needed for `approved`; 0 when no review was requested.
    public var requiredApprovals: Int
    /// Actor who requested the review; nil when none was requested.
    public var requestedBy: String?
    /// Decisions on the current request, oldest first; a new request clears them.
    public var decisions: [Decision]

    enum CodingKeys: String, CodingKey {
        case session, status, reviewers, decisions
        case requiredApprovals = "required_approvals"
        case requestedBy = "requested_by"
    }
}

import Foundation

/// A session's lifecycle state.
public enum SessionStatus: String, Sendable, Codable, CaseIterable {
    /// Open for writes; any write returns a committed or reviewed session to this state.
    case active
    /// A review was requested and does not have enough approvals yet.
    case pendingApproval = "pending-approval"
    /// The review has its required approvals and no rejection; a ref with a policy accepts it.
    case approved
    /// A reviewer turned the review down.
    case rejected
    /// Committed, with no writes since.
    case committed
    /// Read-only: still readable, forkable and exportable; writes fail with `conflict`.
    case archived
}

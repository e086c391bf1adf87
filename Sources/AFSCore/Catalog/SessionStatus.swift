import Foundation

/// A session's lifecycle state.
public enum SessionStatus: String, Sendable, Codable, CaseIterable {
    case active
    case pendingApproval = "pending-approval"
    case approved
    case rejected
    case committed
    case archived
}

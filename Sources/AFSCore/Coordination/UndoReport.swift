import Foundation

/// What `undo` did.
public struct UndoReport: Sendable, Codable, Equatable {
    /// Paths put back to their content at the checkpoint.
    public var restored: [String]
    /// Paths the actor created, removed again.
    public var removed: [String]
    /// Paths changed later by someone else: left alone.
    public var skipped: [String]
    /// ID of the checkpoint whose content the paths were reverted to (`ckp_…`).
    public var checkpoint: String
}

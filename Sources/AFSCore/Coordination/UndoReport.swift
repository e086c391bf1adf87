import Foundation

/// What `undo` did.
public struct UndoReport: Sendable, Codable, Equatable {
    /// Paths put back to their content at the checkpoint.
    public var restored: [String]
    /// Paths the actor created, removed again.
    public var removed: [String]
    /// Paths changed later by someone else: left alone.
    public var skipped: [String]
    public var checkpoint: String
}

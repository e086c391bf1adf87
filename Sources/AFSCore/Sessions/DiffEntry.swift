import Foundation

/// One line of a diff.
public struct DiffEntry: Sendable, Codable, Equatable {
    /// How the path differs from the first tree to the second; `modified` means new content or
    /// metadata (kind, mode, owner, xattrs), never times alone.
    public enum Change: String, Sendable, Codable, CaseIterable {
        /// The path exists only in the second tree.
        case added
        /// The path exists in both, with other content or metadata.
        case modified
        /// The path exists only in the first tree.
        case deleted
    }
    /// Absolute path in the session, e.g. `/src/main.c`.
    public var path: String
    /// Whether the path appeared, changed or disappeared.
    public var change: Change
    /// Kind of the entry in the second tree (for `deleted`, of the entry that was removed).
    public var kind: EntryKind
}

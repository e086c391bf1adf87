import Foundation

/// What promote did.
public struct PromoteResult: Sendable, Codable, Equatable {
    /// How the ref moved: `created`, `fast-forward`, `merged` (a new merge commit), `up-to-date`
    /// (it already contains the session's head) or `conflicted` (not moved).
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// The ref did not exist; it now points at the session's head.
        case created
        /// The ref's commit was an ancestor of the head; the ref moved to the head.
        case fastForward = "fast-forward"
        /// The ref moved to a new merge commit of its old commit and the session's head.
        case merged
        /// The ref already contains the session's head and was not moved.
        case upToDate = "up-to-date"
        /// Both sides changed paths incompatibly (see `conflicts`); the ref was not moved.
        case conflicted
    }

    /// Name of the ref promoted to, e.g. `main`.
    public var ref: String
    /// What happened to the ref.
    public var outcome: Outcome
    /// The commit the ref points to after the call (unchanged when conflicted).
    public var commitID: String?
    /// Paths changed on both sides in incompatible ways; the ref was not moved.
    public var conflicts: [String]

    enum CodingKeys: String, CodingKey {
        case ref, outcome, conflicts
        case commitID = "commit_id"
    }
}

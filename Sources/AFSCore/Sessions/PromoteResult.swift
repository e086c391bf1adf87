import Foundation

/// What promote did.
public struct PromoteResult: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        case created
        case fastForward = "fast-forward"
        case merged
        case upToDate = "up-to-date"
        case conflicted
    }

    public var ref: String
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

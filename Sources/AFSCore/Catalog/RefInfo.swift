import Foundation

/// A named pointer to a commit (`main`, a template…).
public struct RefInfo: Sendable, Codable, Equatable {
    public var name: String
    public var commitID: String
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case name
        case commitID = "commit_id"
        case updatedAt = "updated_at"
    }

    public init(name: String, commitID: String, updatedAt: Date) {
        self.name = name
        self.commitID = commitID
        self.updatedAt = updatedAt
    }
}

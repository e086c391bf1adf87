import Foundation

/// A named pointer to a commit (`main`, a template…).
public struct RefInfo: Sendable, Codable, Equatable {
    /// Ref name, e.g. `main`; unique in the catalog.
    public var name: String
    /// ID of the commit the ref points at.
    public var commitID: String
    /// When the ref last moved; catalogs set it in `setRef`.
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case name
        case commitID = "commit_id"
        case updatedAt = "updated_at"
    }

    /// Memberwise initializer; catalogs build these from their rows.
    public init(name: String, commitID: String, updatedAt: Date) {
        self.name = name
        self.commitID = commitID
        self.updatedAt = updatedAt
    }
}

import Foundation

/// A structured knowledge entry: key → JSON value, with tags. `scope` is a session ID or nil (store-wide).
public struct KnowledgeEntry: Sendable, Codable, Equatable {
    /// Session ID the entry belongs to (removed with the session), or nil for store-wide.
    public var scope: String?
    /// Key within the scope, 1…512 bytes without NUL.
    public var key: String
    /// A JSON document of at most 1 MiB, as stored.
    public var value: String
    /// Labels that listings can filter by; empty tags are dropped when stored.
    public var tags: [String]
    /// Who last wrote the entry, as given by the caller.
    public var author: String
    /// Nanoseconds since 1970 of the last write, by the store's clock.
    public var time: Int64

    /// Memberwise initializer; performs none of the validation `putKnowledge` does.
    public init(scope: String? = nil, key: String, value: String, tags: [String], author: String, time: Int64) {
        self.scope = scope
        self.key = key
        self.value = value
        self.tags = tags
        self.author = author
        self.time = time
    }
}

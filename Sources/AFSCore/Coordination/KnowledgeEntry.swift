import Foundation

/// A structured knowledge entry: key → JSON value, with tags. `scope` is a session ID or nil (store-wide).
public struct KnowledgeEntry: Sendable, Codable, Equatable {
    public var scope: String?
    public var key: String
    public var value: String
    public var tags: [String]
    public var author: String
    public var time: Int64

    public init(scope: String? = nil, key: String, value: String, tags: [String], author: String, time: Int64) {
        self.scope = scope
        self.key = key
        self.value = value
        self.tags = tags
        self.author = author
        self.time = time
    }
}

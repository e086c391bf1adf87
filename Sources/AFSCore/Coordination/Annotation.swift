import Foundation

/// A note or evidence attached to a session, a path, a line range or a commit.
public struct Annotation: Sendable, Codable, Equatable {
    public var id: String
    public var session: String
    public var path: String?
    public var lineStart: Int?
    public var lineEnd: Int?
    public var commitID: String?
    public var author: String
    public var kind: String
    public var text: String
    public var time: Int64

    enum CodingKeys: String, CodingKey {
        case id, session, path, author, kind, text, time
        case lineStart = "line_start"
        case lineEnd = "line_end"
        case commitID = "commit_id"
    }

    public init(id: String, session: String, path: String? = nil, lineStart: Int? = nil, lineEnd: Int? = nil, commitID: String? = nil, author: String, kind: String, text: String, time: Int64) {
        self.id = id
        self.session = session
        self.path = path
        self.lineStart = lineStart
        self.lineEnd = lineEnd
        self.commitID = commitID
        self.author = author
        self.kind = kind
        self.text = text
        self.time = time
    }
}

import Foundation

/// A note or evidence attached to a session, a path, a line range or a commit.
public struct Annotation: Sendable, Codable, Equatable {
    /// Stable identifier, `ann_` plus 16 base32 characters.
    public var id: String
    /// ID of the session the annotation belongs to.
    public var session: String
    /// Normalized session path it is about; nil when it is about the whole session or a commit.
    public var path: String?
    /// First line of the range, counting from 1; nil without a range (a range needs a path).
    public var lineStart: Int?
    /// Last line of the range, inclusive; nil without a range.
    public var lineEnd: Int?
    /// Commit it refers to (checked to exist when annotating); nil when none.
    public var commitID: String?
    /// Who wrote it, as given by the caller; annotations can be filtered by it.
    public var author: String
    /// Free-form category: `note` by default, or e.g. `evidence`, `warning`.
    public var kind: String
    /// The note itself, 1 byte to 1 MiB.
    public var text: String
    /// Nanoseconds since 1970, by the store's clock.
    public var time: Int64

    enum CodingKeys: String, CodingKey {
        case id, session, path, author, kind, text, time
        case lineStart = "line_start"
        case lineEnd = "line_end"
        case commitID = "commit_id"
    }

    /// Memberwise initializer; performs none of the validation `annotate` does.
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

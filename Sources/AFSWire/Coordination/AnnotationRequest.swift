/// `POST /v1/sessions/{id}/annotations`: a note on the session, a path, a line range or a commit.
public struct AnnotationRequest: WireModel, Equatable {
    public var path: String?
    public var lineStart: Int?
    public var lineEnd: Int?
    public var commit: String?
    /// Default `note`.
    public var kind: String?
    public var text: String

    enum CodingKeys: String, CodingKey {
        case path, commit, kind, text
        case lineStart = "line_start"
        case lineEnd = "line_end"
    }

    public init(path: String? = nil, lineStart: Int? = nil, lineEnd: Int? = nil, commit: String? = nil, kind: String? = nil, text: String) {
        self.path = path
        self.lineStart = lineStart
        self.lineEnd = lineEnd
        self.commit = commit
        self.kind = kind
        self.text = text
    }
}

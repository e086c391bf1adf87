/// `POST /v1/sessions/{id}/chunks/missing`: which of these chunk IDs a chunked write of `path`
/// must send as bytes.
public struct MissingChunksRequest: WireModel, Equatable {
    /// The file to be written; its current chunks are the base unless `bases` names others.
    public var path: String
    public var bases: [String]?
    public var chunks: [String]
    public init(path: String, bases: [String]? = nil, chunks: [String]) {
        self.path = path
        self.bases = bases
        self.chunks = chunks
    }
}

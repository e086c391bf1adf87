/// The chunk IDs the server does not have (hex).
public struct MissingChunksReply: WireModel, Equatable {
    public var missing: [String]
    public init(missing: [String]) { self.missing = missing }
}

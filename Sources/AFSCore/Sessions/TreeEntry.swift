import AFSCore

/// One entry of `GET /v1/sessions/{id}/tree`: a ``DirectoryEntry`` with its full path, in one
/// flat object.
public struct TreeEntry: WireModel, Equatable {
    public var path: String
    public var entry: DirectoryEntry

    private enum CodingKeys: String, CodingKey { case path }

    public init(path: String, entry: DirectoryEntry) {
        self.path = path
        self.entry = entry
    }

    public init(from decoder: any Decoder) throws {
        entry = try DirectoryEntry(from: decoder)
        path = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .path)
    }

    public func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
    }
}

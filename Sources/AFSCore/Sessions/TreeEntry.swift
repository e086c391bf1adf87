/// One entry of a recursive listing (``AetherStore/listTree(_:path:limit:)``, `GET
/// /v1/sessions/{id}/tree?recursive=true`): a ``DirectoryEntry`` with its full path, encoded as
/// one flat object.
public struct TreeEntry: Sendable, Codable, Equatable {
    /// The entry's path from the session root (`/src/main.c`).
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

import AFSCore

/// One entry of `GET /v1/sessions/{id}/tree`: a ``DirectoryEntry`` with its full path
/// (schema `TreeEntry`).
struct TreeEntry: Encodable {
    var path: String
    var entry: DirectoryEntry

    private enum CodingKeys: String, CodingKey { case path }

    func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
    }
}

/// What a path names.
public enum EntryKind: String, Sendable, Codable, Equatable {
    case file
    case directory
    case symlink
}

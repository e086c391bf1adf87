/// A validated path inside a session: a list of names, none of them empty, `.`, `..`, containing
/// `/` or NUL, or longer than 255 bytes; at most 4096 bytes in all.
///
/// Paths are always relative to the session root. A leading `/` is accepted and means the session
/// root (there is no way out of a session, so it is not a host path); the root itself is `/`, `.` or ``.
public struct SessionPath: Hashable, Sendable, CustomStringConvertible {
    /// The names from the root down; empty for the root itself.
    public let components: [String]

    /// Longest name allowed, in UTF-8 bytes.
    public static let maxNameBytes = 255
    /// Longest path allowed, in UTF-8 bytes of the string as given.
    public static let maxPathBytes = 4096

    /// The session root, written `/`.
    public static let root = SessionPath(validated: [])

    init(validated components: [String]) { self.components = components }

    /// Parses and validates; throws `AFSError.invalidPath` saying exactly what is wrong.
    public init(_ raw: String) throws(AFSError) {
        if raw.utf8.contains(0) { throw AFSError.invalidPath("path contains a NUL byte") }
        if raw.utf8.count > SessionPath.maxPathBytes {
            throw AFSError.invalidPath("path is \(raw.utf8.count) bytes; the limit is \(SessionPath.maxPathBytes)")
        }
        var s = Substring(raw)
        if s.hasPrefix("/") { s = s.dropFirst() }
        if s.isEmpty || s == "." {
            components = []
            return
        }
        if s.hasSuffix("/") { s = s.dropLast() }
        var out: [String] = []
        for part in s.split(separator: "/", omittingEmptySubsequences: false) {
            if part.isEmpty { throw AFSError.invalidPath("path '\(raw)' has an empty component (`//`)") }
            if part == "." || part == ".." {
                throw AFSError.invalidPath("path '\(raw)' contains '\(part)'; use plain names relative to the session root")
            }
            if part.utf8.count > SessionPath.maxNameBytes {
                throw AFSError.invalidPath("a name in '\(raw.prefix(64))…' is \(part.utf8.count) bytes; the limit is \(SessionPath.maxNameBytes)")
            }
            out.append(String(part))
        }
        components = out
    }

    /// Validates a path from an archive or a directory walk, where an absolute path is hostile.
    static func fromArchive(_ raw: String) throws(AFSError) -> SessionPath {
        var s = Substring(raw)
        while s.hasPrefix("./") { s = s.dropFirst(2) }
        if s.hasPrefix("/") {
            throw AFSError.invalidPath("archive entry '\(raw)' is absolute; refusing to import it")
        }
        return try SessionPath(String(s))
    }

    /// Whether this is the session root (no components).
    public var isRoot: Bool { components.isEmpty }
    /// The last component; empty for the root.
    public var name: String { components.last ?? "" }
    /// The path without its last component; the root's parent is the root.
    public var parent: SessionPath { SessionPath(validated: Array(components.dropLast())) }

    /// This path with `name` below it. `name` is not validated: pass one component `init(_:)` accepts.
    public func appending(_ name: String) -> SessionPath { SessionPath(validated: components + [name]) }

    /// Whether `self` is `other` or lies below it.
    public func hasPrefix(_ other: SessionPath) -> Bool {
        components.count >= other.components.count && Array(components.prefix(other.components.count)) == other.components
    }

    /// `/a/b` form.
    public var description: String { "/" + components.joined(separator: "/") }
}

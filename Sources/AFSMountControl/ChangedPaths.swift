/// What changed in a mounted session since an ``FSMonitorToken``: the answer to git's
/// file-system monitor hook (protocol version 2), computed by the mount.
public struct ChangedPaths: Sendable, Codable, Equatable {
    /// The token the next query passes: the changefeed position this answer covers.
    public var token: String
    /// Paths relative to the directory asked about (git's work tree), without a leading `/`. A
    /// trailing `/` stands for a directory and everything below it (a removed or renamed directory).
    public var paths: [String]
    /// Anything may have changed: the token was unknown, from another session or past the
    /// changefeed's retention, or the tree was replaced (restore, undo). Git then checks every file.
    public var everything: Bool

    public init(token: String, paths: [String], everything: Bool) {
        self.token = token
        self.paths = paths
        self.everything = everything
    }

    /// The hook's standard output as git reads it: the token, then each path, each ended by NUL;
    /// `/` alone is git's "check everything".
    public var hookOutput: [UInt8] {
        var out = Array(token.utf8) + [0]
        if everything {
            out += [UInt8(ascii: "/"), 0]
        } else {
            for path in paths where !path.isEmpty { out += Array(path.utf8) + [0] }
        }
        return out
    }
}

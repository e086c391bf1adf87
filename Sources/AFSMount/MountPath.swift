/// Path arithmetic on the absolute, `/`-separated paths FUSE hands the mount ("/", "/a/b").
///
/// These paths are session paths as they are: libfuse builds them from names the kernel already
/// checked (no empty components, no `.` or `..`), and the service validates them again.
enum MountPath {
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }

    /// Whether `path` is `ancestor` or lies below it.
    static func isWithin(_ path: String, _ ancestor: String) -> Bool {
        if ancestor == "/" || path == ancestor { return true }
        return path.hasPrefix(ancestor) && path.utf8.dropFirst(ancestor.utf8.count).first == UInt8(ascii: "/")
    }

    /// `path` (within `from`) moved under `to`.
    static func rebase(_ path: String, from: String, to: String) -> String {
        if path == from { return to }
        return to + path.dropFirst(from == "/" ? 0 : from.count)
    }
}

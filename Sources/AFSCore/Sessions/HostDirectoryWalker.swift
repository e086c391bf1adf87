import Foundation

/// One entry of a local directory tree, as `lstat` and its `user.` extended attributes describe it.
struct HostEntry {
    /// Where the entry goes in a session (relative to the walked directory).
    var path: SessionPath
    /// Where it is on the host.
    var hostPath: String
    var status: stat
    var xattrs: [String: [UInt8]]
    /// For the second and later names of a host file with several links: the first name the
    /// walk gave it (a hard link to that entry).
    var linkOf: SessionPath?

    /// nil for a type a session cannot hold (none on Linux today; kept for safety).
    var kind: EntryKind? { EntryKind(typeBits: UInt32(status.st_mode)) }
    var mode: UInt32 { UInt32(status.st_mode) & 0o7777 }
    /// Nanoseconds since 1970.
    var mtime: Int64 { Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec) }
    var rdev: UInt64 { kind == .characterDevice || kind == .blockDevice ? UInt64(status.st_rdev) : 0 }

    /// A symlink's target, read from the host.
    func linkTarget() throws(AFSError) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(hostPath, &buffer, 4096)
        guard n >= 0 else { throw AFSError.io("readlink", path: hostPath) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Walks a local directory tree in the order imports and archives want it: depth first, names
/// sorted, each directory before its entries. Nothing is followed (symlinks are entries), so a
/// walk cannot leave the directory; names a session cannot hold are refused with the host path.
/// The one walker behind ``DirectoryImporter`` and ``DirectoryArchive``, so a directory means
/// the same thing whether it is imported here or archived for a remote server.
struct HostDirectoryWalker {
    let root: String

    /// Checks that `root` is a directory.
    init(_ root: String) throws(AFSError) {
        var st = stat()
        guard lstat(root, &st) == 0 else { throw AFSError.notFound("directory \(root) does not exist") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw AFSError(.wrongKind, "\(root) is not a directory") }
        self.root = root
    }

    func walk(_ visit: (HostEntry) throws(AFSError) -> Void) throws(AFSError) {
        var firstNames: [String: SessionPath] = [:]
        try walk(root, SessionPath.root, &firstNames, visit)
    }

    private func walk(
        _ dir: String, _ at: SessionPath, _ firstNames: inout [String: SessionPath], _ visit: (HostEntry) throws(AFSError) -> Void
    ) throws(AFSError) {
        guard let handle = opendir(dir) else { throw AFSError.io("opendir", path: dir) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(handle)
        for name in names.sorted() {
            let full = dir + "/" + name
            let path: SessionPath
            do {
                let checked = try SessionPath(name)
                guard checked.components.count == 1 else { throw AFSError.invalidPath("bad name") }
                path = at.appending(name)
            } catch {
                throw AFSError.invalidPath("cannot import \(full): \((error as? AFSError)?.message ?? "invalid name")")
            }
            var st = stat()
            guard lstat(full, &st) == 0 else { throw AFSError.io("lstat", path: full) }
            var entry = HostEntry(path: path, hostPath: full, status: st, xattrs: try HostXattrs.read(full))
            if st.st_mode & S_IFMT != S_IFDIR && st.st_nlink > 1 {
                let key = "\(st.st_dev):\(st.st_ino)"
                if let first = firstNames[key] { entry.linkOf = first } else { firstNames[key] = path }
            }
            try visit(entry)
            if st.st_mode & S_IFMT == S_IFDIR { try walk(full, path, &firstNames, visit) }
        }
    }
}

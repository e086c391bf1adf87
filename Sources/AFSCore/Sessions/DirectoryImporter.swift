import Foundation

/// Imports a local directory tree: regular files, directories and symlinks (other kinds are skipped).
/// Symlinks are stored, never followed, so an import cannot escape the directory.
struct DirectoryImporter {
    let store: AetherStore
    let progress: (@Sendable (ImportProgress) -> Void)?
    /// Record each entry's numeric owner and group (`tar --same-owner`); otherwise entries belong
    /// to whoever mounts the session, which is what a work tree imported by one user wants.
    var preserveOwners = false

    func importTree(at path: String) throws(AFSError) -> ChunkID {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw AFSError.notFound("directory \(path) does not exist") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw AFSError(.wrongKind, "\(path) is not a directory") }
        var builder = TreeBuilder(store: store, progress: progress)
        try walk(path, SessionPath.root, &builder)
        return try builder.build()
    }

    private static func mtime(_ st: stat) -> Int64 {
        Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    private func walk(_ dir: String, _ at: SessionPath, _ builder: inout TreeBuilder) throws(AFSError) {
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
            let mode = UInt32(st.st_mode) & 0o7777
            var attributes = EntryAttributes(xattrs: try HostXattrs.read(full))
            if preserveOwners {
                attributes.uid = st.st_uid
                attributes.gid = st.st_gid
            }
            let mtime = DirectoryImporter.mtime(st)
            // A host file with several names is imported once and linked under the others.
            if st.st_mode & S_IFMT != S_IFDIR && st.st_nlink > 1 {
                let key = "\(st.st_dev):\(st.st_ino)"
                if let first = builder.hostLinks[key], builder.link(path, to: first) { continue }
                builder.hostLinks[key] = path
            }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                builder.addDirectory(path, mode: mode, mtime: mtime, attributes: attributes)
                try walk(full, path, &builder)
            case S_IFREG:
                let file = try POSIXFile.open(full, flags: O_RDONLY)
                let (content, size) = try builder.storeFile { (w) throws(AFSError) in
                    var offset: Int64 = 0
                    while true {
                        let piece = try file.read(count: 1 << 20, at: offset)
                        if piece.isEmpty { break }
                        try w.append(piece)
                        offset += Int64(piece.count)
                    }
                }
                builder.add(path, TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: content, attributes: attributes))
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: 4097)
                let n = readlink(full, &buffer, 4096)
                guard n >= 0 else { throw AFSError.io("readlink", path: full) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                builder.add(path, TreeValue(kind: .symlink, mode: 0o777, mtime: mtime, size: UInt64(n), content: .symlink(target), attributes: attributes))
            default:
                // FIFOs, sockets and device nodes: their metadata (nothing is opened).
                guard let kind = EntryKind(typeBits: UInt32(st.st_mode)), kind.isSpecial else { continue }
                let rdev = kind == .characterDevice || kind == .blockDevice ? UInt64(st.st_rdev) : 0
                builder.add(path, TreeValue(kind: kind, mode: mode, mtime: mtime, size: 0, content: .special(rdev: rdev), attributes: attributes))
            }
        }
    }
}

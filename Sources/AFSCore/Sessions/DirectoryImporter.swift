import Foundation

/// Imports a local directory tree: files, directories, symlinks, FIFOs, sockets and device nodes
/// (their metadata; nothing but regular files is opened), with `user.` extended attributes and
/// hard links. Symlinks are stored, never followed, so an import cannot escape the directory.
struct DirectoryImporter {
    let store: AetherStore
    let progress: (@Sendable (ImportProgress) -> Void)?
    /// Record each entry's numeric owner and group (`tar --same-owner`); otherwise entries belong
    /// to whoever mounts the session, which is what a work tree imported by one user wants.
    var preserveOwners = false

    func importTree(at path: String) throws(AFSError) -> ChunkID {
        let walker = try HostDirectoryWalker(path)
        var builder = TreeBuilder(store: store, progress: progress)
        try walker.walk { (entry) throws(AFSError) in try add(entry, to: &builder) }
        return try builder.build()
    }

    private func add(_ entry: HostEntry, to builder: inout TreeBuilder) throws(AFSError) {
        // A host file with several names is imported once and linked under the others.
        if let first = entry.linkOf, builder.link(entry.path, to: first) { return }
        var attributes = EntryAttributes(xattrs: entry.xattrs)
        if preserveOwners {
            attributes.uid = entry.status.st_uid
            attributes.gid = entry.status.st_gid
        }
        let (path, mode, mtime) = (entry.path, entry.mode, entry.mtime)
        switch entry.kind {
        case .directory?:
            builder.addDirectory(path, mode: mode, mtime: mtime, attributes: attributes)
        case .file?:
            let file = try POSIXFile.open(entry.hostPath, flags: O_RDONLY)
            let (content, size) = try builder.storeFile { (w) throws(AFSError) in
                // Reads sized from the walk's stat, one byte over, so a small file takes one
                // pread: a short read is the end (a file that grew meanwhile is read on).
                var offset: Int64 = 0
                var expected = max(0, Int64(entry.status.st_size))
                while true {
                    let want = Int(min(max(expected - offset, 0) + 1, 1 << 20))
                    let piece = try file.read(count: want, at: offset)
                    if piece.isEmpty { break }
                    try w.append(piece)
                    offset += Int64(piece.count)
                    if piece.count < want { break }
                    // Longer than its stat said (growing while read): go on in 1 MiB reads.
                    if offset > expected { expected = offset + (1 << 20) }
                }
            }
            builder.add(path, TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: content, attributes: attributes))
        case .symlink?:
            let target = try entry.linkTarget()
            builder.add(path, TreeValue(kind: .symlink, mode: 0o777, mtime: mtime, size: UInt64(target.utf8.count), content: .symlink(target), attributes: attributes))
        case let kind?:
            builder.add(path, TreeValue(kind: kind, mode: mode, mtime: mtime, size: 0, content: .special(rdev: entry.rdev), attributes: attributes))
        case nil:
            return
        }
    }
}

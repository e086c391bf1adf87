import Foundation

extension AetherStore {
    /// Writes a session's tree as a POSIX (pax) tar archive to a descriptor, streaming chunk by chunk.
    public func exportTar(_ id: String, to fd: Int32) throws(AFSError) {
        let root = try resolveRoot(.session(id))
        var writer = TarWriter(sink: FileDescriptorByteSink(fd: fd))
        do {
            try tree.walk(root) { (path, v) throws(AFSError) in
                let name = path.joined(separator: "/")
                let mtime = v.mtime / 1_000_000_000
                do {
                    switch v.content {
                    case .directory:
                        try writer.beginEntry(TarEntry(path: name, kind: .directory, mode: v.mode, mtime: mtime, size: 0, linkTarget: nil))
                        try writer.endEntry()
                    case .symlink(let target):
                        try writer.beginEntry(TarEntry(path: name, kind: .symlink, mode: v.mode, mtime: mtime, size: 0, linkTarget: target))
                        try writer.endEntry()
                    case .inline(let bytes):
                        try writer.beginEntry(TarEntry(path: name, kind: .file, mode: v.mode, mtime: mtime, size: Int64(v.size), linkTarget: nil))
                        try writer.writeContent(bytes)
                        try writer.endEntry()
                    case .chunk, .chunkList:
                        try writer.beginEntry(TarEntry(path: name, kind: .file, mode: v.mode, mtime: mtime, size: Int64(v.size), linkTarget: nil))
                        for item in try content.chunks(of: v.content, size: v.size) {
                            try writer.writeContent(try log.get(item.id))
                        }
                        try writer.endEntry()
                    }
                } catch let e as AFSError {
                    throw e
                } catch {
                    throw AFSError(.io, "writing the archive failed: \(error)")
                }
            }
            try writer.finish()
        } catch let e as AFSError {
            throw e
        } catch {
            throw AFSError(.io, "writing the archive failed: \(error)")
        }
    }

    /// Writes a session's tree to a tar file (created or replaced atomically).
    public func exportTar(_ id: String, toFile path: String) throws(AFSError) {
        let tmp = path + ".partial"
        let file = try POSIXFile.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        do {
            try exportTar(id, to: file.fd)
            try file.sync()
        } catch {
            unlink(tmp)
            throw error
        }
        guard Glibc.rename(tmp, path) == 0 else { throw AFSError.io("rename", path: path) }
    }
}

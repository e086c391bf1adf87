import AFSTar
import Foundation

extension AetherStore {
    /// Writes a session's tree as a POSIX (pax) tar archive to a descriptor, streaming chunk by chunk.
    public func exportTar(_ id: String, to fd: Int32) throws(AFSError) {
        let root = try resolveRoot(.session(id))
        var writer = TarWriter(sink: FileDescriptorByteSink(fd: fd))
        do {
            // The first name of each hard-linked file; later names become tar hard links to it.
            var firstNames: [UInt64: String] = [:]
            try tree.walk(root) { (path, v) throws(AFSError) in
                let name = path.joined(separator: "/")
                if v.attributes.linked, let inode = v.attributes.inode {
                    if let first = firstNames[inode] {
                        do {
                            var e = TarEntry(path: name, kind: .hardlink, mode: v.mode, mtime: v.mtime / 1_000_000_000, linkTarget: first)
                            e.uid = v.attributes.uid
                            e.gid = v.attributes.gid
                            try writer.beginEntry(e)
                            try writer.endEntry()
                        } catch {
                            throw AFSError(.io, "writing the archive failed: \(error)")
                        }
                        return
                    }
                    firstNames[inode] = name
                }
                let mtime = v.mtime / 1_000_000_000
                // Owner and extended attributes travel with every kind (numeric ids; none
                // recorded: 0, as before format 2).
                func entry(_ kind: TarEntryKind, size: Int64 = 0, link: String? = nil) -> TarEntry {
                    var e = TarEntry(path: name, kind: kind, mode: v.mode, mtime: mtime, size: size, linkTarget: link)
                    e.uid = v.attributes.uid
                    e.gid = v.attributes.gid
                    e.xattrs = v.attributes.xattrs
                    return e
                }
                do {
                    switch v.content {
                    case .directory:
                        try writer.beginEntry(entry(.directory))
                        try writer.endEntry()
                    case .symlink(let target):
                        try writer.beginEntry(entry(.symlink, link: target))
                        try writer.endEntry()
                    case .special(let rdev):
                        var e: TarEntry
                        switch v.kind {
                        case .characterDevice: e = entry(.characterDevice)
                        case .blockDevice: e = entry(.blockDevice)
                        case .socket: e = entry(.socket)
                        default: e = entry(.fifo)
                        }
                        (e.deviceMajor, e.deviceMinor) = DeviceNumber.split(rdev)
                        try writer.beginEntry(e)
                        try writer.endEntry()
                    case .inline(let bytes):
                        try writer.beginEntry(entry(.file, size: Int64(v.size)))
                        try writer.writeContent(bytes)
                        try writer.endEntry()
                    case .chunk, .chunkList:
                        try writer.beginEntry(entry(.file, size: Int64(v.size)))
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

import AFSTar
import Foundation

/// Imports a tar archive, streaming: content goes to the chunk log as it is read. Any hostile entry
/// (absolute path, `..`, NUL, overlong name) aborts the whole import before a session exists.
struct TarImporter {
    let store: AetherStore
    let progress: (@Sendable (ImportProgress) -> Void)?
    /// Record the archive's numeric owners (`tar --same-owner`); see ``DirectoryImporter``.
    var preserveOwners = false

    func importArchive(at path: String) throws(AFSError) -> ChunkID {
        let file = try POSIXFile.open(path, flags: O_RDONLY)
        return try importStream(fd: file.fd)
    }

    /// Imports from any readable descriptor (a file, a pipe, a socket).
    func importStream(fd: Int32) throws(AFSError) -> ChunkID {
        var reader = TarReader(source: FileDescriptorByteSource(fd: fd))
        var builder = TreeBuilder(store: store, progress: progress)
        do {
            while let entry = try reader.next() {
                if entry.path.isEmpty || entry.path == "." || entry.path == "./" { continue }
                let path = try SessionPath.fromArchive(entry.path)
                if path.isRoot { continue }
                let mtime = entry.mtime * 1_000_000_000
                var attributes = EntryAttributes(xattrs: entry.xattrs.filter { $0.key.hasPrefix("user.") })
                if preserveOwners {
                    attributes.uid = entry.uid
                    attributes.gid = entry.gid
                }
                switch entry.kind {
                case .directory:
                    builder.addDirectory(path, mode: entry.mode & 0o7777, mtime: mtime, attributes: attributes)
                case .file:
                    let (content, size) = try builder.storeFile { (w) throws(AFSError) in
                        while true {
                            let piece: [UInt8]
                            do { piece = try reader.readContent(maxLength: 1 << 20) } catch {
                                throw AFSError.invalidArgument("tar archive is damaged: \(error)")
                            }
                            if piece.isEmpty { break }
                            try w.append(piece)
                        }
                    }
                    builder.add(path, TreeValue(kind: .file, mode: entry.mode & 0o7777, mtime: mtime, size: size, content: content, attributes: attributes))
                case .symlink:
                    guard let target = entry.linkTarget, !target.isEmpty else {
                        throw AFSError.invalidArgument("tar symlink \(entry.path) has no target")
                    }
                    builder.add(path, TreeValue(
                        kind: .symlink, mode: 0o777, mtime: mtime, size: UInt64(target.utf8.count), content: .symlink(target), attributes: attributes))
                case .fifo, .socket, .characterDevice, .blockDevice:
                    let kind: EntryKind
                    switch entry.kind {
                    case .socket: kind = .socket
                    case .characterDevice: kind = .characterDevice
                    case .blockDevice: kind = .blockDevice
                    default: kind = .fifo
                    }
                    let rdev = kind == .characterDevice || kind == .blockDevice
                        ? DeviceNumber.make(major: entry.deviceMajor, minor: entry.deviceMinor) : 0
                    builder.add(path, TreeValue(kind: kind, mode: entry.mode & 0o7777, mtime: mtime, size: 0, content: .special(rdev: rdev), attributes: attributes))
                case .hardlink:
                    // One file under both names, as the archive's writer had it.
                    let target = try SessionPath.fromArchive(entry.linkTarget ?? "")
                    guard builder.link(path, to: target) else {
                        throw AFSError.invalidArgument("tar hard link \(entry.path) points to \(target), which is not an earlier file")
                    }
                case .other:
                    continue
                }
            }
        } catch let e as AFSError {
            throw e
        } catch {
            throw AFSError.invalidArgument("tar archive is damaged: \(error)")
        }
        return try builder.build()
    }
}

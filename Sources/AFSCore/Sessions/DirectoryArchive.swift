import AFSTar
import Foundation

/// Writes a local directory tree as a pax tar archive that ``AetherStore`` imports without loss:
/// modes, times, numeric owners, `user.` extended attributes, hard links, FIFOs, device nodes
/// and Unix sockets (which GNU tar refuses to archive; the archive marks them with the pax
/// record `AETHER.filetype=socket`).
///
/// A remote client streams this archive to the server's import, so `session create --from-dir`
/// gives the same session whether the store is local or behind afs-server.
public enum DirectoryArchive {
    /// Writes the archive of `directory` to `fd` (not closed), entries in sorted depth-first order.
    public static func write(_ directory: String, to fd: Int32) throws(AFSError) {
        let walker = try HostDirectoryWalker(directory)
        var writer = TarWriter(sink: FileDescriptorByteSink(fd: fd))
        try walker.walk { (entry) throws(AFSError) in
            guard let kind = entry.kind else { return }
            let name = String(entry.path.description.dropFirst())
            let tarKind: TarEntryKind
            var link: String?
            var size: Int64 = 0
            if let first = entry.linkOf {
                tarKind = .hardlink
                link = String(first.description.dropFirst())
            } else {
                switch kind {
                case .file: tarKind = .file; size = Int64(entry.status.st_size)
                case .directory: tarKind = .directory
                case .symlink: tarKind = .symlink; link = try entry.linkTarget()
                case .fifo: tarKind = .fifo
                case .socket: tarKind = .socket
                case .characterDevice: tarKind = .characterDevice
                case .blockDevice: tarKind = .blockDevice
                }
            }
            var e = TarEntry(path: name, kind: tarKind, mode: entry.mode, mtime: Int64(entry.status.st_mtim.tv_sec), size: size, linkTarget: link)
            e.uid = entry.status.st_uid
            e.gid = entry.status.st_gid
            e.xattrs = entry.xattrs
            (e.deviceMajor, e.deviceMinor) = DeviceNumber.split(entry.rdev)
            do {
                try writer.beginEntry(e)
                if tarKind == .file { try copyContent(of: entry, size: size, into: &writer) }
                try writer.endEntry()
            } catch let error as AFSError {
                throw error
            } catch {
                throw AFSError(.io, "writing the archive of \(directory) failed at \(entry.hostPath): \(error)")
            }
        }
        do { try writer.finish() } catch { throw AFSError(.io, "writing the archive of \(directory) failed: \(error)") }
    }

    /// Exactly `size` bytes (the size the header promised): a file that shrinks while it is
    /// archived is an error naming it, not a torn archive.
    private static func copyContent(of entry: HostEntry, size: Int64, into writer: inout TarWriter<FileDescriptorByteSink>) throws {
        let file = try POSIXFile.open(entry.hostPath, flags: O_RDONLY)
        var offset: Int64 = 0
        while offset < size {
            let piece = try file.read(count: Int(min(1 << 20, size - offset)), at: offset)
            guard !piece.isEmpty else { throw AFSError(.io, "\(entry.hostPath) shrank while it was archived") }
            try writer.writeContent(piece)
            offset += Int64(piece.count)
        }
    }
}

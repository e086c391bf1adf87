import AFSCore
import CFUSE3
import Glibc

/// The C side of the mount: libfuse's operations table, each entry converting its C arguments,
/// calling ``SessionFilesystem`` and turning a thrown ``Errno`` into `-errno`.
///
/// This is the only file that touches libfuse's pointers. The callbacks capture nothing (C
/// function pointers cannot); they find the file system through the private data given to
/// `fuse_new`, which ``FUSEMount`` keeps retained for the mount's lifetime. Paths may be NULL for
/// calls on an open handle (`nullpath_ok`: a file unlinked while open keeps working through its
/// handle), so handle-based calls prefer `fi->fh`.
///
/// Lock operations (`lock`, `flock`) are left out on purpose: libfuse then tells the kernel to
/// handle POSIX and BSD locks itself, which is exact for processes sharing one mount (SQLite).
/// Hard links are the service's (`link`: one file, several names); symbolic links are stored as given.
/// Entries created on behalf of a user other than the mounting one record that user as owner
/// (``Caller``, from `fuse_get_context`); the kernel checks permissions (`default_permissions`).
enum FUSEBridge {
    /// The operations table handed to `fuse_new`; the xattr operations only with
    /// `extendedAttributes` (see ``FUSEMount/extendedAttributes``).
    static func operations(extendedAttributes: Bool) -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { _, config in
            if let config {
                // The kernel keeps attributes and names for a second, as the mount's own cache does;
                // negative lookups are not kept, so files another writer creates appear at once.
                config.pointee.entry_timeout = 1
                config.pointee.attr_timeout = 1
                config.pointee.negative_timeout = 0
                // `stat` shows the mount's own inode numbers (``InodeNumber``: stable across
                // mounts, so git's index stays valid), not libfuse's lookup-order node IDs.
                config.pointee.use_ino = 1
                // The kernel keeps a file's cached pages across opens while its size and
                // modification time are unchanged (libfuse compares them at each open), so a warm
                // read is answered from the page cache; a change of either drops them.
                config.pointee.auto_cache = 1
                config.pointee.nullpath_ok = 1
                // Unlink really unlinks: open handles keep their data in the mount, not in a
                // `.fuse_hidden` file that would show up in the session.
                config.pointee.hard_remove = 1
            }
            return afs_fuse_private_data()
        }
        ops.getattr = { path, st, fi in
            FUSEBridge.run("getattr") { fs throws(Errno) in
                let handle = fi.map { $0.pointee.fh }
                let path = FUSEBridge.string(path)
                let attributes = try fs.attributes(path: path, handle: handle)
                guard let st else { return 0 }
                // A file unlinked while open has no path; its handle knows the one it had.
                let named = path ?? handle.flatMap { fs.openFile(handle: $0)?.path } ?? "/"
                st.pointee = FUSEBridge.stat(attributes, inode: attributes.inode ?? InodeNumber.forPath(named))
                return 0
            }
        }
        ops.opendir = { path, fi in
            FUSEBridge.run("opendir") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let fi else { throw Errno.invalid }
                fi.pointee.fh = try fs.openDirectory(path)
                return 0
            }
        }
        ops.releasedir = { _, fi in
            FUSEBridge.run("releasedir") { fs throws(Errno) in
                if let fi { fs.releaseDirectory(fi.pointee.fh) }
                return 0
            }
        }
        ops.readdir = { _, buffer, filler, _, fi, flags in
            FUSEBridge.run("readdir") { fs throws(Errno) in
                guard let fi, let filler else { throw Errno.invalid }
                let path = try fs.directoryPath(fi.pointee.fh)
                let plus = flags.rawValue & FUSE_READDIR_PLUS.rawValue != 0
                let fillFlags = plus ? FUSE_FILL_DIR_PLUS : fuse_fill_dir_flags(0)
                // `.` and `..` carry only their inode numbers (libfuse never turns them into entries).
                var dot = Glibc.stat()
                dot.st_mode = S_IFDIR
                dot.st_ino = ino_t((try? fs.attributes(path: path))?.inode ?? InodeNumber.forPath(path))
                _ = filler(buffer, ".", &dot, 0, fuse_fill_dir_flags(0))
                dot.st_ino = ino_t(InodeNumber.forPath(MountPath.parent(of: path)))
                _ = filler(buffer, "..", &dot, 0, fuse_fill_dir_flags(0))
                for entry in try fs.list(path) {
                    let inode = entry.attributes.inode ?? InodeNumber.forPath(MountPath.join(path, entry.name))
                    var st = FUSEBridge.stat(entry.attributes, inode: inode)
                    if filler(buffer, entry.name, &st, 0, fillFlags) != 0 { break }
                }
                return 0
            }
        }
        ops.readlink = { path, buffer, size in
            FUSEBridge.run("readlink") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let buffer, size > 0 else { throw Errno.invalid }
                let target = Array(try fs.readLink(path).utf8)
                let n = min(target.count, size - 1)
                target.withUnsafeBufferPointer { src in
                    buffer.withMemoryRebound(to: UInt8.self, capacity: n + 1) { dst in
                        dst.update(from: src.baseAddress!, count: n)
                        dst[n] = 0
                    }
                }
                return 0
            }
        }
        ops.mkdir = { path, mode in
            FUSEBridge.run("mkdir") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path) else { throw Errno.invalid }
                try fs.makeDirectory(path, mode: UInt32(mode), caller: FUSEBridge.caller())
                return 0
            }
        }
        ops.mknod = { path, mode, rdev in
            FUSEBridge.run("mknod") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path) else { throw Errno.invalid }
                try fs.makeNode(path, mode: UInt32(mode), rdev: UInt64(rdev), caller: FUSEBridge.caller())
                return 0
            }
        }
        ops.unlink = { path in
            FUSEBridge.run("unlink") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path) else { throw Errno.invalid }
                try fs.unlink(path)
                return 0
            }
        }
        ops.rmdir = { path in
            FUSEBridge.run("rmdir") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path) else { throw Errno.invalid }
                try fs.removeDirectory(path)
                return 0
            }
        }
        ops.symlink = { target, path in
            FUSEBridge.run("symlink") { fs throws(Errno) in
                guard let target = FUSEBridge.string(target), let path = FUSEBridge.string(path) else { throw Errno.invalid }
                try fs.symlink(target: target, at: path, caller: FUSEBridge.caller())
                return 0
            }
        }
        ops.link = { from, to in
            FUSEBridge.run("link") { fs throws(Errno) in
                guard let from = FUSEBridge.string(from), let to = FUSEBridge.string(to) else { throw Errno.invalid }
                try fs.link(from, to: to)
                return 0
            }
        }
        ops.rename = { from, to, flags in
            FUSEBridge.run("rename") { fs throws(Errno) in
                guard let from = FUSEBridge.string(from), let to = FUSEBridge.string(to) else { throw Errno.invalid }
                try fs.rename(from, to: to, flags: flags)
                return 0
            }
        }
        ops.chmod = { path, mode, fi in
            FUSEBridge.run("chmod") { fs throws(Errno) in
                try fs.chmod(path: FUSEBridge.string(path), handle: fi.map { $0.pointee.fh }, mode: UInt32(mode))
                return 0
            }
        }
        ops.chown = { path, uid, gid, fi in
            FUSEBridge.run("chown") { fs throws(Errno) in
                // -1 leaves that id as it is.
                try fs.chown(
                    path: FUSEBridge.string(path), handle: fi.map { $0.pointee.fh },
                    uid: uid == uid_t.max ? nil : UInt32(uid), gid: gid == gid_t.max ? nil : UInt32(gid))
                return 0
            }
        }
        if extendedAttributes { addExtendedAttributeOperations(&ops) }
        ops.truncate = { path, size, fi in
            FUSEBridge.run("truncate") { fs throws(Errno) in
                guard size >= 0 else { throw Errno.invalid }
                try fs.truncate(path: FUSEBridge.string(path), handle: fi.map { $0.pointee.fh }, size: UInt64(size))
                return 0
            }
        }
        ops.utimens = { path, times, fi in
            FUSEBridge.run("utimens") { fs throws(Errno) in
                // times[0] is the access time, times[1] the modification time; NULL means both are
                // now (libfuse passes UTIME_NOW / UTIME_OMIT in tv_nsec otherwise).
                func change(_ t: timespec) -> SessionFilesystem.TimeChange {
                    switch t.tv_nsec {
                    case FUSEBridge.utimeNow: return .now
                    case FUSEBridge.utimeOmit: return .omit
                    default: return .at(Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec))
                    }
                }
                let modified = times.map { change($0[1]) } ?? .now
                let accessed = times.map { change($0[0]) } ?? .now
                try fs.setTimes(path: FUSEBridge.string(path), handle: fi.map { $0.pointee.fh }, modified: modified, accessed: accessed)
                return 0
            }
        }
        ops.open = { path, fi in
            FUSEBridge.run("open") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let fi else { throw Errno.invalid }
                fi.pointee.fh = try fs.open(path, flags: fi.pointee.flags)
                return 0
            }
        }
        ops.create = { path, mode, fi in
            FUSEBridge.run("create") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let fi else { throw Errno.invalid }
                fi.pointee.fh = try fs.create(path, mode: UInt32(mode), flags: fi.pointee.flags, caller: FUSEBridge.caller())
                return 0
            }
        }
        ops.read_buf = { _, bufp, size, offset, fi in
            FUSEBridge.run("read") { fs throws(Errno) in
                guard let fi, let bufp, offset >= 0 else { throw Errno.invalid }
                // libfuse reads straight from the descriptor once this returns: no copy through
                // Swift arrays. The descriptor stays open until the handle's release.
                let fd = try fs.readDescriptor(fi.pointee.fh, offset: UInt64(offset), count: size)
                let result = afs_fuse_bufvec_from_fd(bufp, fd, size, offset)
                guard result == 0 else { throw Errno(-result) }
                return 0
            }
        }
        ops.write = { _, buffer, size, offset, fi in
            FUSEBridge.run("write") { fs throws(Errno) in
                guard let fi, let buffer, offset >= 0 else { throw Errno.invalid }
                let bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: size))
                return Int32(try fs.write(fi.pointee.fh, offset: UInt64(offset), bytes: bytes))
            }
        }
        ops.statfs = { _, st in
            FUSEBridge.run("statfs") { fs throws(Errno) in
                st?.pointee = fs.usage()
                return 0
            }
        }
        ops.flush = { _, fi in
            FUSEBridge.run("flush") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                try fs.flush(fi.pointee.fh)
                return 0
            }
        }
        ops.release = { _, fi in
            FUSEBridge.run("release") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                try fs.release(fi.pointee.fh)
                return 0
            }
        }
        ops.fsync = { _, _, fi in
            FUSEBridge.run("fsync") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                try fs.fsync(fi.pointee.fh)
                return 0
            }
        }
        ops.fsyncdir = { _, _, _ in 0 }
        return ops
    }

    /// `setxattr`, `getxattr`, `listxattr`, `removexattr`: the `user.` namespace, stored per entry.
    static func addExtendedAttributeOperations(_ ops: inout fuse_operations) {
        ops.setxattr = { path, name, value, size, flags in
            FUSEBridge.run("setxattr") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let name = FUSEBridge.string(name) else { throw Errno.invalid }
                let bytes = size > 0 && value != nil ? [UInt8](UnsafeRawBufferPointer(start: value, count: size)) : []
                try fs.setExtendedAttribute(path: path, name: name, value: bytes, flags: flags)
                return 0
            }
        }
        ops.getxattr = { path, name, buffer, size in
            FUSEBridge.run("getxattr") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let name = FUSEBridge.string(name) else { throw Errno.invalid }
                let value = try fs.extendedAttribute(path: path, name: name)
                return try FUSEBridge.reply(value, into: buffer, size: size)
            }
        }
        ops.listxattr = { path, buffer, size in
            FUSEBridge.run("listxattr") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path) else { throw Errno.invalid }
                // NUL-terminated names, one after another.
                var list: [UInt8] = []
                for name in try fs.extendedAttributeNames(path: path) { list += Array(name.utf8) + [0] }
                return try FUSEBridge.reply(list, into: buffer, size: size)
            }
        }
        ops.removexattr = { path, name in
            FUSEBridge.run("removexattr") { fs throws(Errno) in
                guard let path = FUSEBridge.string(path), let name = FUSEBridge.string(name) else { throw Errno.invalid }
                try fs.removeExtendedAttribute(path: path, name: name)
                return 0
            }
        }
    }

    /// `UTIME_NOW` and `UTIME_OMIT` (`(1 << 30) - 1` and `- 2` in `<sys/stat.h>`), macros Swift does not import.
    static let utimeNow = (1 << 30) - 1
    static let utimeOmit = (1 << 30) - 2

    /// Runs one callback body against the mounted file system, turning its error into `-errno`,
    /// and counts it in the mount's metrics under `operation` (time taken, failed or not).
    static func run(_ operation: String, _ body: (SessionFilesystem) throws(Errno) -> Int32) -> Int32 {
        guard let raw = afs_fuse_private_data() else { return -EIO }
        let fs = Unmanaged<SessionFilesystem>.fromOpaque(raw).takeUnretainedValue()
        let start = ContinuousClock.now
        let result: Int32
        do {
            result = try body(fs)
        } catch {
            result = -error.code
        }
        fs.metrics.record(operation, duration: ContinuousClock.now - start, failed: result < 0)
        return result
    }

    static func string(_ path: UnsafePointer<CChar>?) -> String? {
        path.map { String(cString: $0) }
    }

    /// The user and group of the request being served.
    static func caller() -> Caller {
        guard let context = fuse_get_context() else { return .mounter }
        return Caller(uid: context.pointee.uid, gid: context.pointee.gid)
    }

    /// The xattr reply convention: with `size` 0 the length only; else the bytes, or `ERANGE`
    /// when they do not fit.
    static func reply(_ bytes: [UInt8], into buffer: UnsafeMutablePointer<CChar>?, size: Int) throws(Errno) -> Int32 {
        if size == 0 { return Int32(bytes.count) }
        guard bytes.count <= size, let buffer else { throw Errno.range }
        bytes.withUnsafeBytes { src in
            if let base = src.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count) }
        }
        return Int32(bytes.count)
    }

    /// The `struct stat` for `attributes`: the recorded owner (else the mounting user), times
    /// from the engine, the inode number given (``InodeNumber``). The change time is the stored
    /// one (else the modification time): stable values, so git's index, which records `ctime`,
    /// stays valid across mounts. Access time reads as the modification time (not stored).
    static func stat(_ attributes: FileAttributes, inode: UInt64) -> Glibc.stat {
        var st = Glibc.stat()
        st.st_ino = ino_t(inode)
        st.st_mode = mode_t(attributes.kind.typeBits) | mode_t(attributes.mode & 0o7777)
        st.st_rdev = dev_t(attributes.rdev)
        st.st_nlink = nlink_t(attributes.linkCount)
        st.st_size = off_t(clamping: attributes.size)
        st.st_blksize = 4096
        st.st_blocks = blkcnt_t(clamping: (attributes.size + 511) / 512)
        st.st_uid = uid_t(attributes.uid ?? Caller.mounter.uid)
        st.st_gid = gid_t(attributes.gid ?? Caller.mounter.gid)
        func time(_ ns: Int64) -> timespec {
            // Floor division, so times before 1970 keep a nanosecond part in 0..<1e9.
            let seconds = ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
            return timespec(tv_sec: Int(seconds), tv_nsec: Int(ns - seconds * 1_000_000_000))
        }
        st.st_mtim = time(attributes.mtime)
        st.st_atim = time(attributes.atime ?? attributes.mtime)
        st.st_ctim = time(attributes.ctime ?? attributes.mtime)
        return st
    }
}

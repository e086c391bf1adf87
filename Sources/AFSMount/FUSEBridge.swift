import AFSCore
import CFUSE3
import Glibc

/// The C side of the mount: libfuse's low-level operations table. Each entry converts its C
/// arguments, finds the path of the node it names (``NodeTable``), calls ``SessionFilesystem``
/// and sends the reply; a thrown ``Errno`` becomes the error reply.
///
/// This is the only file that touches libfuse's request pointers. The callbacks capture nothing
/// (C function pointers cannot); they find the file system through the user data given to
/// `fuse_session_new`, which ``FUSEMount`` keeps retained for the mount's lifetime.
///
/// Why the low-level API: it lets the kernel answer what a FUSE file system usually answers
/// itself (measured in Docs/perf/mount.md).
/// - Names, attributes and missing names are cached by the kernel for ``SessionFilesystem/kernelTimeout``
///   (a minute while the changefeed is followed, which drops each changed path from the kernel as
///   its event arrives: ``KernelCache``), so a warm `git status` makes no request at all for its
///   `lstat`s and `.gitignore` probes.
/// - `opendir` answers `ENOSYS` once: the kernel then opens directories itself and keeps their
///   listings (`FOPEN_CACHE_DIR`) until the directory changes, through the mount or by an event.
/// - An open says whether the kernel may keep the pages it has (`keep_cache`: the content is the
///   one they were read from), so a warm read is answered from the page cache.
/// - With write-back, `open` answers `ENOSYS` once too: the kernel opens files itself, and the
///   requests without a handle are served by the node's implicit handle
///   (``SessionFilesystem/opensByKernel``).
///
/// Lock operations (`getlk`, `setlk`, `flock`) are left out on purpose: the kernel then handles
/// POSIX and BSD locks itself, which is exact for processes sharing one mount (SQLite). Hard links
/// are the service's (`link`: one file, several names; each name is a node of its own here).
/// Entries created on behalf of a user other than the mounting one record that user as owner
/// (``Caller``, from the request's context); the kernel checks permissions (`default_permissions`).
enum FUSEBridge {
    /// The operations table handed to `fuse_session_new`; the xattr operations only with
    /// `extendedAttributes` (see ``FUSEMount/extendedAttributes``).
    static func operations(extendedAttributes: Bool) -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn else { return }
            // Symlink targets cached like pages; directories opened by the kernel (ENOSYS to
            // opendir) with their listings cached; pages dropped when a refreshed mtime or size
            // differs; lookups in one directory served in parallel.
            let wanted = UInt32(FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_PARALLEL_DIROPS)
            conn.pointee.want |= wanted & conn.pointee.capable
            // Files opened by the kernel too, with write-back (``SessionFilesystem/opensByKernel``).
            if let userdata, conn.pointee.capable & UInt32(FUSE_CAP_NO_OPEN_SUPPORT) != 0 {
                let fs = FUSEBridge.filesystem(userdata)
                if fs.wantsKernelOpens {
                    conn.pointee.want |= UInt32(FUSE_CAP_NO_OPEN_SUPPORT)
                    // With no `open` to do it, `O_TRUNC` must come as a truncating `setattr`.
                    conn.pointee.want &= ~UInt32(FUSE_CAP_ATOMIC_O_TRUNC)
                    fs.kernelOpens.store(true, ordering: .relaxed)
                }
            }
        }
        ops.lookup = { req, parent, name in
            FUSEBridge.serve(req, "lookup") { fs throws(Errno) in
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                let attributes: FileAttributes
                do throws(Errno) {
                    attributes = try fs.attributes(path: path)
                } catch where error == .notFound && fs.followsChanges {
                    // A negative entry: the kernel answers ENOENT itself until an event names the path.
                    var entry = fuse_entry_param()
                    entry.entry_timeout = fs.kernelTimeout
                    fuse_reply_entry(req, &entry)
                    return
                }
                FUSEBridge.replyEntry(req, fs, name: name, parent: parent, path: path, attributes)
            }
        }
        ops.forget = { req, node, count in
            if let raw = fuse_req_userdata(req) {
                let fs = FUSEBridge.filesystem(raw)
                if let handle = fs.nodes.forget(node, count: count) { fs.release(handle, "a forgotten node's handle") }
            }
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            if let raw = fuse_req_userdata(req), let forgets {
                let fs = FUSEBridge.filesystem(raw)
                for i in 0..<count {
                    if let handle = fs.nodes.forget(forgets[i].ino, count: forgets[i].nlookup) { fs.release(handle, "a forgotten node's handle") }
                }
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, node, fi in
            FUSEBridge.serve(req, "getattr") { fs throws(Errno) in
                let (path, handle) = try FUSEBridge.target(fs, node, fi)
                var st = try FUSEBridge.attributeStat(fs, path: path, handle: handle)
                fuse_reply_attr(req, &st, fs.kernelTimeout)
            }
        }
        ops.setattr = { req, node, attr, valid, fi in
            FUSEBridge.serve(req, "setattr") { fs throws(Errno) in
                guard let attr else { throw Errno.invalid }
                // A directory's times or attributes come after what its files' closes published.
                fs.closeImplicitHandles(in: node)
                let (path, handle) = try FUSEBridge.target(fs, node, fi)
                let a = attr.pointee
                let valid = Int32(valid)
                if valid & FUSE_SET_ATTR_MODE != 0 { try fs.chmod(path: path, handle: handle, mode: UInt32(a.st_mode)) }
                if valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID) != 0 {
                    try fs.chown(
                        path: path, handle: handle, uid: valid & FUSE_SET_ATTR_UID != 0 ? UInt32(a.st_uid) : nil,
                        gid: valid & FUSE_SET_ATTR_GID != 0 ? UInt32(a.st_gid) : nil)
                }
                if valid & FUSE_SET_ATTR_SIZE != 0 {
                    guard a.st_size >= 0 else { throw Errno.invalid }
                    try fs.truncate(path: path, handle: handle, size: UInt64(a.st_size))
                }
                let times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW
                if valid & times != 0 {
                    func change(_ set: Int32, _ now: Int32, _ t: timespec) -> SessionFilesystem.TimeChange {
                        if valid & now != 0 { return .now }
                        if valid & set != 0 { return .at(Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)) }
                        return .omit
                    }
                    try fs.setTimes(
                        path: path, handle: handle, modified: change(FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, a.st_mtim),
                        accessed: change(FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, a.st_atim))
                }
                var st = try FUSEBridge.attributeStat(fs, path: path, handle: handle)
                fuse_reply_attr(req, &st, fs.kernelTimeout)
            }
        }
        ops.readlink = { req, node in
            FUSEBridge.serve(req, "readlink") { fs throws(Errno) in
                guard let path = fs.nodes.path(of: node) else { throw Errno.notFound }
                let target = try fs.readLink(path)
                fuse_reply_readlink(req, target)
            }
        }
        ops.mknod = { req, parent, name, mode, rdev in
            FUSEBridge.serve(req, "mknod") { fs throws(Errno) in
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                if fs.opensByKernel, EntryKind(typeBits: UInt32(mode)) == .file {
                    // How the kernel creates files once `create` answered ENOSYS (below): a new
                    // file made here, local until published, as `create` made it. The kernel
                    // looked the name up first and found nothing; a file open here under it
                    // is there all the same.
                    if fs.openFile(at: path) != nil { throw Errno.exists }
                    let handle = try fs.create(path, mode: UInt32(mode), caller: FUSEBridge.caller(req))
                    let (id, attributes) = try FUSEBridge.adoptNewFile(fs, handle, name: name, parent: parent, path: path)
                    var entry = FUSEBridge.entryParameters(fs, id: id, path: path, attributes)
                    if fuse_reply_entry(req, &entry) != 0 { FUSEBridge.dropNewFile(fs, handle, id) }
                    return
                }
                try fs.makeNode(path, mode: UInt32(mode), rdev: UInt64(rdev), caller: FUSEBridge.caller(req))
                FUSEBridge.replyEntry(req, fs, name: name, parent: parent, path: path, try fs.attributes(path: path))
            }
        }
        ops.mkdir = { req, parent, name, mode in
            FUSEBridge.serve(req, "mkdir") { fs throws(Errno) in
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                try fs.makeDirectory(path, mode: UInt32(mode), caller: FUSEBridge.caller(req))
                FUSEBridge.replyEntry(req, fs, name: name, parent: parent, path: path, try fs.attributes(path: path))
            }
        }
        ops.symlink = { req, target, parent, name in
            FUSEBridge.serve(req, "symlink") { fs throws(Errno) in
                guard let target else { throw Errno.invalid }
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                try fs.symlink(target: String(cString: target), at: path, caller: FUSEBridge.caller(req))
                FUSEBridge.replyEntry(req, fs, name: name, parent: parent, path: path, try fs.attributes(path: path))
            }
        }
        ops.link = { req, node, parent, name in
            FUSEBridge.serve(req, "link") { fs throws(Errno) in
                guard let from = fs.nodes.path(of: node) else { throw Errno.notFound }
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                fs.closeImplicitIfWritten(node)
                try fs.link(from, to: path)
                FUSEBridge.replyEntry(req, fs, name: name, parent: parent, path: path, try fs.attributes(path: path))
            }
        }
        ops.unlink = { req, parent, name in
            FUSEBridge.serve(req, "unlink") { fs throws(Errno) in
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                let kept = fs.keepContent(of: name, in: parent)
                defer { kept.map(fs.endImplicit) }
                try fs.unlink(path)
                fs.nodes.remove(name, from: parent)
                fuse_reply_err(req, 0)
            }
        }
        ops.rmdir = { req, parent, name in
            FUSEBridge.serve(req, "rmdir") { fs throws(Errno) in
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                try fs.removeDirectory(path)
                fs.nodes.remove(name, from: parent)
                fuse_reply_err(req, 0)
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            FUSEBridge.serve(req, "rename") { fs throws(Errno) in
                let (name, from) = try FUSEBridge.named(fs, parent, name)
                let (newName, to) = try FUSEBridge.named(fs, newParent, newName)
                // A file renamed right after its close (a lock file): published as closed, first.
                if let moved = fs.nodes.id(of: name, in: parent) { fs.closeImplicitIfWritten(moved) }
                let kept = fs.keepContent(of: newName, in: newParent)
                defer { kept.map(fs.endImplicit) }
                try fs.rename(from, to: to, flags: UInt32(flags))
                fs.nodes.rename(name, in: parent, to: newName, in: newParent)
                fuse_reply_err(req, 0)
            }
        }
        ops.open = { req, node, fi in
            FUSEBridge.serve(req, "open") { fs throws(Errno) in
                // The kernel opens files itself from this answer on (only the first open comes).
                if fs.opensByKernel {
                    fuse_reply_err(req, ENOSYS)
                    return
                }
                guard let fi else { throw Errno.invalid }
                guard let path = fs.nodes.path(of: node) else { throw Errno.notFound }
                let handle = try fs.open(path, flags: fi.pointee.flags)
                fi.pointee.fh = handle
                if let attributes = try? fs.attributes(path: path, handle: handle) {
                    let stamp = NodeTable.ContentStamp(size: attributes.size, mtime: attributes.mtime)
                    afs_fi_set_keep_cache(fi, fs.nodes.keepsCache(node, for: stamp) ? 1 : 0)
                }
                // A close of a file opened for reading has nothing to publish: the kernel need
                // not send the flush (git opens a score of files per status).
                afs_fi_set_noflush(fi, fi.pointee.flags & O_ACCMODE == O_RDONLY ? 1 : 0)
                fs.nodes.addHandle(handle, to: node)
                if fuse_reply_open(req, fi) != 0 {
                    // The open was interrupted: nobody holds the handle.
                    fs.nodes.removeHandle(handle, from: node)
                    try? fs.release(handle)
                }
            }
        }
        ops.create = { req, parent, name, mode, fi in
            FUSEBridge.serve(req, "create") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                if fs.opensByKernel {
                    // The kernel then creates files with `mknod` and opens them itself: no handle
                    // to give back, and no `release` for each new file (`tar -x`: one request
                    // fewer per file; Docs/perf/profiles.md §10).
                    throw Errno(ENOSYS)
                }
                let (name, path) = try FUSEBridge.named(fs, parent, name)
                let handle = try fs.create(path, mode: UInt32(mode), caller: FUSEBridge.caller(req))
                fi.pointee.fh = handle
                let attributes = try FUSEBridge.newFileAttributes(fs, handle, path: path)
                let id = fs.nodes.remember(name, in: parent)
                fs.nodes.addHandle(handle, to: id)
                var entry = FUSEBridge.entryParameters(fs, id: id, path: path, attributes)
                if fuse_reply_create(req, &entry, fi) != 0 {
                    fs.nodes.removeHandle(handle, from: id)
                    try? fs.release(handle)
                    fs.nodes.forget(id, count: 1)
                }
            }
        }
        ops.read = { req, node, size, offset, fi in
            FUSEBridge.serve(req, "read") { fs throws(Errno) in
                guard let fi, offset >= 0 else { throw Errno.invalid }
                try FUSEBridge.withHandle(fs, node, fi, .read) { handle throws(Errno) in
                    // libfuse reads (or splices) straight from the descriptor into the reply: no
                    // copy through Swift arrays. The descriptor stays open until the handle's
                    // release (an implicit handle's: until this request ends its use).
                    let fd = try fs.readDescriptor(handle, offset: UInt64(offset), count: size)
                    _ = afs_reply_from_fd(req, fd, size, offset)
                }
            }
        }
        ops.write = { req, node, buffer, size, offset, fi in
            FUSEBridge.serve(req, "write") { fs throws(Errno) in
                guard let fi, let buffer, offset >= 0 else { throw Errno.invalid }
                let bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: size))
                let (written, handle) = try FUSEBridge.withHandle(fs, node, fi, .write) { handle throws(Errno) in
                    (try fs.write(handle, offset: UInt64(offset), bytes: bytes), handle)
                }
                if fi.pointee.fh == 0 { fs.closeImplicitIfLinked(node, handle: handle) }
                fuse_reply_write(req, written)
            }
        }
        ops.flush = { req, node, fi in
            FUSEBridge.serve(req, "flush") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                if fi.pointee.fh == 0 {
                    // A file the kernel opened: its close ends the implicit handle. The answer
                    // stops the kernel sending flush at all (``SessionFilesystem/closesUnseen``).
                    fs.closeImplicit(node)
                    fs.stopFlushes()
                    fuse_reply_err(req, ENOSYS)
                    return
                }
                try fs.flush(fi.pointee.fh)
                fuse_reply_err(req, 0)
            }
        }
        ops.release = { req, node, fi in
            FUSEBridge.serve(req, "release") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                // An implicit handle (``SessionFilesystem/opensByKernel``) ends at the close: the
                // last close of a file created here, once flushes stopped.
                if fi.pointee.fh == 0 {
                    if fs.closesUnseen { fs.closeImplicit(node) }
                    fuse_reply_err(req, 0)
                    return
                }
                fs.nodes.removeHandle(fi.pointee.fh, from: node)
                try fs.release(fi.pointee.fh)
                fuse_reply_err(req, 0)
            }
        }
        ops.fsync = { req, node, _, fi in
            FUSEBridge.serve(req, "fsync") { fs throws(Errno) in
                guard let fi else { throw Errno.invalid }
                try FUSEBridge.withHandle(fs, node, fi, .other) { handle throws(Errno) in try fs.fsync(handle) }
                fuse_reply_err(req, 0)
            }
        }
        // The kernel opens directories itself from now on, and caches their listings.
        ops.opendir = { req, _, _ in fuse_reply_err(req, ENOSYS) }
        ops.readdir = { req, node, size, offset, _ in
            FUSEBridge.serve(req, "readdir") { fs throws(Errno) in try FUSEBridge.readDirectory(req, fs, node, size: size, offset: offset, plus: false) }
        }
        ops.readdirplus = { req, node, size, offset, _ in
            FUSEBridge.serve(req, "readdirplus") { fs throws(Errno) in try FUSEBridge.readDirectory(req, fs, node, size: size, offset: offset, plus: true) }
        }
        ops.fsyncdir = { req, _, _, _ in fuse_reply_err(req, 0) }
        ops.statfs = { req, _ in
            FUSEBridge.serve(req, "statfs") { fs throws(Errno) in
                var st = fs.usage()
                fuse_reply_statfs(req, &st)
            }
        }
        if extendedAttributes { addExtendedAttributeOperations(&ops) }
        return ops
    }

    /// `setxattr`, `getxattr`, `listxattr`, `removexattr`: the `user.` namespace, stored per entry.
    static func addExtendedAttributeOperations(_ ops: inout fuse_lowlevel_ops) {
        ops.setxattr = { req, node, name, value, size, flags in
            FUSEBridge.serve(req, "setxattr") { fs throws(Errno) in
                guard let path = fs.nodes.path(of: node), let name else { throw Errno.notFound }
                let bytes = size > 0 && value != nil ? [UInt8](UnsafeRawBufferPointer(start: value, count: size)) : []
                try fs.setExtendedAttribute(path: path, name: String(cString: name), value: bytes, flags: flags)
                fuse_reply_err(req, 0)
            }
        }
        ops.getxattr = { req, node, name, size in
            FUSEBridge.serve(req, "getxattr") { fs throws(Errno) in
                guard let path = fs.nodes.path(of: node), let name else { throw Errno.notFound }
                try FUSEBridge.replyAttributeBytes(req, try fs.extendedAttribute(path: path, name: String(cString: name)), size: size)
            }
        }
        ops.listxattr = { req, node, size in
            FUSEBridge.serve(req, "listxattr") { fs throws(Errno) in
                guard let path = fs.nodes.path(of: node) else { throw Errno.notFound }
                // NUL-terminated names, one after another.
                var list: [UInt8] = []
                for name in try fs.extendedAttributeNames(path: path) { list += Array(name.utf8) + [0] }
                try FUSEBridge.replyAttributeBytes(req, list, size: size)
            }
        }
        ops.removexattr = { req, node, name in
            FUSEBridge.serve(req, "removexattr") { fs throws(Errno) in
                guard let path = fs.nodes.path(of: node), let name else { throw Errno.notFound }
                try fs.removeExtendedAttribute(path: path, name: String(cString: name))
                fuse_reply_err(req, 0)
            }
        }
    }

    // MARK: Requests

    static func filesystem(_ raw: UnsafeMutableRawPointer) -> SessionFilesystem {
        Unmanaged<SessionFilesystem>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs one request against the mounted file system: `body` sends the reply when it
    /// succeeds; a thrown error is sent as the reply. Counted in the mount's metrics under
    /// `operation` (time taken, failed or not).
    static func serve(_ req: fuse_req_t?, _ operation: String, _ body: (SessionFilesystem) throws(Errno) -> Void) {
        guard let raw = fuse_req_userdata(req) else {
            fuse_reply_err(req, EIO)
            return
        }
        let fs = filesystem(raw)
        let start = ContinuousClock.now
        var failed = false
        do {
            try body(fs)
        } catch {
            failed = true
            fuse_reply_err(req, error.code)
        }
        fs.metrics.record(operation, duration: ContinuousClock.now - start, failed: failed)
    }

    /// The name and session path of `name` in directory `parent`.
    static func named(_ fs: SessionFilesystem, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) throws(Errno) -> (String, String) {
        guard let name else { throw Errno.invalid }
        let string = String(cString: name)
        // The kernel passes names of any length; a local file system refuses long ones here.
        guard string.utf8.count <= SessionPath.maxNameBytes else { throw Errno.nameTooLong }
        guard let path = fs.nodes.path(of: string, in: parent) else { throw Errno.notFound }
        return (string, path)
    }

    /// The attributes of a file just created at `path` through `handle`, for the reply; the
    /// handle is released when they cannot be had (the reply is then the error).
    static func newFileAttributes(_ fs: SessionFilesystem, _ handle: UInt64, path: String) throws(Errno) -> FileAttributes {
        do throws(Errno) {
            return try fs.attributes(path: path, handle: handle)
        } catch {
            try? fs.release(handle)
            throw error
        }
    }

    /// Makes `handle` of a file just created at `path` the implicit handle of its new node (the
    /// kernel opens files itself: ``SessionFilesystem/opensByKernel``), dropped by the close that
    /// ends it; the node and the file's attributes for the reply.
    static func adoptNewFile(
        _ fs: SessionFilesystem, _ handle: UInt64, name: String, parent: fuse_ino_t, path: String
    ) throws(Errno) -> (UInt64, FileAttributes) {
        let attributes = try newFileAttributes(fs, handle, path: path)
        let id = fs.nodes.remember(name, in: parent)
        if let kept = fs.adoptImplicit(handle, for: id) {
            fs.endImplicit(SessionFilesystem.ImplicitUse(node: id, handle: kept, transient: false, writes: true))
        } else {
            fs.release(handle, "a new file's handle")
        }
        return (id, attributes)
    }

    /// Undoes ``adoptNewFile(_:_:name:parent:path:)`` when its reply could not be sent (the
    /// request was interrupted: the kernel holds no node).
    static func dropNewFile(_ fs: SessionFilesystem, _ handle: UInt64, _ id: UInt64) {
        if fs.nodes.dropImplicitHandle(handle, of: id) { try? fs.release(handle) }
        fs.nodes.forget(id, count: 1)
    }

    /// Runs `body` with the request's handle, or, for a file the kernel opened (handle 0), with
    /// the node's implicit handle, in use until `body` returns. A reply sent after it returns
    /// lets the program go on (and close) only once the use has ended, so the close publishes
    /// at once; a read replies inside (its descriptor must stay open), and has nothing to publish.
    static func withHandle<T>(
        _ fs: SessionFilesystem, _ node: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>, _ access: SessionFilesystem.ImplicitAccess,
        _ body: (UInt64) throws(Errno) -> T
    ) throws(Errno) -> T {
        let given = fi.pointee.fh
        if given != 0 { return try body(given) }
        let use = try fs.beginImplicit(UInt64(node), access: access)
        defer { fs.endImplicit(use) }
        return try body(use.handle)
    }

    /// The path (nil once unlinked) and handle that answer for `node`: the request's open
    /// handle if it has one, else, for an unlinked node, any handle still open on it.
    static func target(_ fs: SessionFilesystem, _ node: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) throws(Errno) -> (String?, UInt64?) {
        let path = fs.nodes.path(of: node)
        // A file the kernel opened itself comes with handle 0: served by path, like a path call.
        let given = fi.map { $0.pointee.fh }.flatMap { $0 == 0 ? nil : $0 }
        let handle = given ?? (path == nil ? fs.nodes.handles(of: node).first : nil)
        guard path != nil || handle != nil else { throw Errno.notFound }
        return (path, handle)
    }

    /// The `struct stat` of a node: its attributes, and its inode number (an unlinked open
    /// file's is the one its last path gave it).
    static func attributeStat(_ fs: SessionFilesystem, path: String?, handle: UInt64?) throws(Errno) -> Glibc.stat {
        let attributes = try fs.attributes(path: path, handle: handle)
        let named = path ?? handle.flatMap { fs.openFile(handle: $0)?.path } ?? "/"
        return stat(attributes, inode: attributes.inode ?? InodeNumber.forPath(named))
    }

    /// The user and group of the request being served.
    static func caller(_ req: fuse_req_t?) -> Caller {
        guard let context = fuse_req_ctx(req) else { return .mounter }
        return Caller(uid: context.pointee.uid, gid: context.pointee.gid)
    }

    /// The reply naming `name` in `parent`: the kernel holds one more reference to its node.
    static func replyEntry(_ req: fuse_req_t?, _ fs: SessionFilesystem, name: String, parent: fuse_ino_t, path: String, _ attributes: FileAttributes) {
        let id = fs.nodes.remember(name, in: parent)
        var entry = entryParameters(fs, id: id, path: path, attributes)
        // An interrupted request's reply never reached the kernel: it holds no reference.
        if fuse_reply_entry(req, &entry) != 0 { fs.nodes.forget(id, count: 1) }
    }

    static func entryParameters(_ fs: SessionFilesystem, id: UInt64, path: String, _ attributes: FileAttributes) -> fuse_entry_param {
        var entry = fuse_entry_param()
        entry.ino = fuse_ino_t(id)
        entry.attr = stat(attributes, inode: attributes.inode ?? InodeNumber.forPath(path))
        let timeout = fs.kernelTimeout
        entry.attr_timeout = timeout
        entry.entry_timeout = timeout
        return entry
    }

    /// One readdir or readdirplus reply of at most `size` bytes from `offset`: `.` and `..`,
    /// then the directory's entries. Offset 0 takes a fresh listing; later offsets continue the
    /// one taken then, so a listing read in several replies is one snapshot. Each readdirplus
    /// entry but `.` and `..` hands the kernel a reference to its node.
    static func readDirectory(_ req: fuse_req_t?, _ fs: SessionFilesystem, _ node: fuse_ino_t, size: Int, offset: off_t, plus: Bool) throws(Errno) {
        guard offset >= 0 else { throw Errno.invalid }
        // A directory removed while open lists nothing.
        guard let path = fs.nodes.path(of: node) else {
            fuse_reply_buf(req, nil, 0)
            return
        }
        let listing: [NodeTable.Listed]
        if offset > 0, let kept = fs.nodes.listing(of: node) {
            listing = kept
        } else {
            listing = try fs.list(path).map { NodeTable.Listed(name: $0.name, attributes: $0.attributes) }
            fs.nodes.storeListing(listing, of: node)
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 8)
        defer { buffer.deallocate() }
        var used = 0
        var remembered: [UInt64] = []
        var index = Int(offset)
        let timeout = fs.kernelTimeout
        while index < listing.count + 2 {
            let name: String
            var entry = fuse_entry_param()
            switch index {
            case 0, 1:
                // `.` and `..` carry their inode numbers only (no node: the kernel takes no reference).
                name = index == 0 ? "." : ".."
                let dotPath = index == 0 ? path : MountPath.parent(of: path)
                entry.attr.st_mode = S_IFDIR
                entry.attr.st_ino = ino_t(InodeNumber.forPath(dotPath))
            default:
                let listed = listing[index - 2]
                name = listed.name
                let entryPath = MountPath.join(path, listed.name)
                entry.attr = stat(listed.attributes, inode: listed.attributes.inode ?? InodeNumber.forPath(entryPath))
                if plus {
                    entry.ino = fuse_ino_t(fs.nodes.remember(listed.name, in: node))
                    entry.attr_timeout = timeout
                    entry.entry_timeout = timeout
                }
            }
            let room = size - used
            let needed = name.withCString { cName in
                plus
                    ? fuse_add_direntry_plus(req, buffer.advanced(by: used).assumingMemoryBound(to: CChar.self), room, cName, &entry, off_t(index + 1))
                    : fuse_add_direntry(req, buffer.advanced(by: used).assumingMemoryBound(to: CChar.self), room, cName, &entry.attr, off_t(index + 1))
            }
            if needed > room {
                if entry.ino != 0 { fs.nodes.forget(UInt64(entry.ino), count: 1) }
                break
            }
            if entry.ino != 0 { remembered.append(UInt64(entry.ino)) }
            used += needed
            index += 1
        }
        if fuse_reply_buf(req, buffer.assumingMemoryBound(to: CChar.self), used) != 0 {
            for id in remembered { fs.nodes.forget(id, count: 1) }
        }
    }

    /// The xattr reply convention: with `size` 0 the length only; else the bytes, or `ERANGE`
    /// when they do not fit.
    static func replyAttributeBytes(_ req: fuse_req_t?, _ bytes: [UInt8], size: Int) throws(Errno) {
        if size == 0 {
            fuse_reply_xattr(req, bytes.count)
            return
        }
        guard bytes.count <= size else { throw Errno.range }
        _ = bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) }
    }

    /// The `struct stat` for `attributes`: the recorded owner (else the mounting user), times
    /// from the engine, the inode number given (``InodeNumber``). The change time is the stored
    /// one (else the modification time): stable values, so git's index, which records `ctime`,
    /// stays valid across mounts. Access time reads as the modification time when none is stored.
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

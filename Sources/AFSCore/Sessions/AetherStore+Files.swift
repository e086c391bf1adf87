import Foundation

extension AetherStore {
    // MARK: Reading

    /// Metadata of a path, or `notFound`.
    public func stat(_ session: String, path: String) throws(AFSError) -> FileStat {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            var st = try fileStat(p, view)
            st.nlink = try s.linkCount(view, tree: tree)
            return st
        }
    }

    func fileStat(_ p: SessionPath, _ view: LiveSession.View) throws(AFSError) -> FileStat {
        var st: FileStat
        switch view {
        case .file(let mode, let mtime, let size, let data, _):
            st = FileStat(path: p.description, kind: .file, mode: mode, size: size, mtime: mtime, contentID: contentID(data, size: size).hex, target: nil)
        case .symlink(let mode, let mtime, let target, _):
            st = FileStat(path: p.description, kind: .symlink, mode: mode, size: UInt64(target.utf8.count), mtime: mtime, contentID: nil, target: target)
        case .directory(let mode, let mtime, _, _):
            st = FileStat(path: p.description, kind: .directory, mode: mode, size: 0, mtime: mtime, contentID: nil, target: nil)
        case .special(let kind, let mode, let mtime, let rdev, _):
            st = FileStat(path: p.description, kind: kind, mode: mode, size: 0, mtime: mtime, contentID: nil, target: nil)
            if kind == .characterDevice || kind == .blockDevice { st.rdev = rdev }
        }
        let a = view.attributes
        st.uid = a.uid
        st.gid = a.gid
        st.ctime = a.ctime
        st.inode = a.inode
        st.atime = a.atime
        if !a.xattrs.isEmpty { st.xattrs = a.xattrs.keys.sorted() }
        return st
    }

    /// A file's content identity, as `stat` and listings show it: SHA-256 of bytes held inline
    /// (small or not yet stored), else the stored content's ID (``TreeValue/contentID``).
    func contentID(_ data: OverlayItem.FileData, size: UInt64) -> ChunkID {
        switch data {
        case .bytes(let b): return content.contentID(of: b)
        case .stored(let c): return TreeValue(kind: .file, mode: 0, mtime: 0, size: size, content: c).contentID!
        }
    }

    /// Bytes of a file: all of it, or `length` bytes from `offset` (clamped to the file's size).
    public func readFile(_ session: String, path: String, offset: UInt64 = 0, length: UInt64? = nil) throws(AFSError) -> [UInt8] {
        let p = try SessionPath(path)
        let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
        guard let view else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
        guard case .file(_, _, let size, let data, _) = view else {
            throw AFSError(.wrongKind, "\(p) is a \(view.kind.rawValue), not a file")
        }
        // Chunks are immutable: reading them needs no session lock.
        switch data {
        case .bytes(let b): return try content.read(.inline(b), size: UInt64(b.count), offset: offset, length: length)
        case .stored(let c): return try content.read(c, size: size, offset: offset, length: length)
        }
    }

    /// The target of a symbolic link.
    public func readLink(_ session: String, path: String) throws(AFSError) -> String {
        let p = try SessionPath(path)
        let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
        guard case .symlink(_, _, let target, _)? = view else { throw AFSError.notFound("\(p) is not a symbolic link in session \(session)") }
        return target
    }

    /// The entries of a directory, sorted by name.
    public func list(_ session: String, path: String = "/") throws(AFSError) -> [DirectoryEntry] {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            guard case .directory(_, _, let treeRoot, _) = view else { throw AFSError(.wrongKind, "\(p) is not a directory") }
            return try s.children(of: p, treeRoot: treeRoot, tree: tree).map { (name, v) throws(AFSError) in try directoryEntry(name, v, s) }
        }
    }

    /// Every entry below the directory `path`, with its full path: depth first, each directory's
    /// entries sorted by name and each subdirectory's right after it. One consistent snapshot,
    /// read under one hold of the session's lock (a walk of ``list(_:path:)`` calls could mix two
    /// versions of the tree), and one call where a walk is one per directory: a mount fills its
    /// metadata cache for a whole checkout with it before `git status` lstat()s every file.
    ///
    /// - Parameters:
    ///   - session: the session to read.
    ///   - path: the directory whose subtree is listed (itself not included).
    ///   - limit: the most entries the caller takes; a tree holding more is refused with
    ///     `.invalidArgument` (naming the limit) after at most `limit + 1` entries were visited,
    ///     so asking about a huge tree costs little.
    public func listTree(_ session: String, path: String = "/", limit: Int? = nil) throws(AFSError) -> [TreeEntry] {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            guard case .directory(_, _, let treeRoot, _) = view else { throw AFSError(.wrongKind, "\(p) is not a directory") }
            var out: [TreeEntry] = []
            func visit(_ directory: SessionPath, _ treeRoot: ChunkID?) throws(AFSError) {
                let prefix = directory.isRoot ? "/" : directory.description + "/"
                for (name, v) in try s.children(of: directory, treeRoot: treeRoot, tree: tree) {
                    if let limit, out.count >= limit {
                        throw AFSError.invalidArgument(
                            "\(p) holds more than \(limit) entries below it, the limit asked for: list its directories one at a time, or raise the limit")
                    }
                    out.append(TreeEntry(path: prefix + name, entry: try directoryEntry(name, v, s)))
                    if case .directory(_, _, let root, _) = v { try visit(directory.appending(name), root) }
                }
            }
            try visit(p, treeRoot)
            return out
        }
    }

    /// What a listing says of one entry (the caller holds the session's lock).
    private func directoryEntry(_ name: String, _ v: LiveSession.View, _ s: LiveSession) throws(AFSError) -> DirectoryEntry {
        var size: UInt64 = 0
        var rdev: UInt64?
        var contentID: String?
        switch v {
        case .file(_, _, let sz, let data, _):
            size = sz
            contentID = self.contentID(data, size: sz).hex
        case .symlink(_, _, let target, _): size = UInt64(target.utf8.count)
        case .directory: break
        case .special(let kind, _, _, let r, _): if kind == .characterDevice || kind == .blockDevice { rdev = r }
        }
        let a = v.attributes
        return DirectoryEntry(
            name: name, kind: v.kind, mode: v.mode, size: size, mtime: v.mtime, uid: a.uid, gid: a.gid, ctime: a.ctime, rdev: rdev, inode: a.inode,
            atime: a.atime, nlink: try s.linkCount(v, tree: tree), contentID: contentID)
    }

    // MARK: Writing

    /// Creates or replaces a file with `data`. Missing parent directories are created.
    /// A replaced file keeps its owner and extended attributes (the same file with new bytes, as
    /// a write through the mount is); a new one gets the context's owner. Durable on return.
    public func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32? = nil, context: MutationContext = .anonymous) throws(AFSError) {
        let (journal, ticket) = try recordWrite(session, try SessionPath(path), data: data, mode: mode, mtime: nil, context: context)
        try journal.waitDurable(ticket)
    }

    /// `writeFile` up to its durability wait (the caller waits for the ticket); `mtime` nil: now.
    /// `stored`: the data's content, already durable in the chunk log (a batch stores all its
    /// files' chunks first and syncs the log once).
    func recordWrite(
        _ session: String, _ p: SessionPath, data: [UInt8], stored: TreeValue.Content? = nil, mode: UInt32?, mtime: Int64?,
        ctime: Int64? = nil, context: MutationContext
    ) throws(AFSError) -> (SessionJournal, UInt64) {
        guard !p.isRoot else { throw AFSError(.wrongKind, "cannot write to the session root; name a file") }
        return try mutate(session, context, [p]) { (s) throws(AFSError) in
            // When the writer made the change (``BatchChange/ctime``), never later than now.
            let now = min(ctime ?? .max, AetherStore.now())
            let (fileMode, attributes, isNew) = try prepareWrite(s, p, mode: mode, context: context, now: now)
            let item: OverlayItem
            if let stored {
                item = .file(mode: fileMode, mtime: mtime ?? now, size: UInt64(data.count), data: .stored(stored), attributes: attributes)
            } else {
                item = try fileItem(mode: fileMode, data: data, mtime: mtime ?? now, attributes: attributes)
            }
            // A change made earlier by its writer never moves the directory's times back.
            if isNew { try touchParent(s, of: p, now: now, notBack: ctime != nil) }
            return try journalAndRecord(s, p, item, event: .write, context)
        }
    }

    /// Replaces `data.count` bytes at `offset` (extending the file, zero-filled, if it is shorter).
    public func patchFile(_ session: String, path: String, offset: UInt64, data: [UInt8], context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard case .file(let mode, _, let size, let fileData, let a)? = try s.resolve(p, tree: tree) else {
                throw AFSError.notFound("\(p) is not an existing file in session \(session)")
            }
            let newSize = max(size, offset + UInt64(data.count))
            guard newSize <= UInt64(Int32.max) * 64 else { throw AFSError.invalidArgument("patch would make the file too large") }
            let item = try spliced(fileData, size: size, mode: mode, attributes: a, offset: offset, replacement: data, newSize: newSize)
            return try journalAndRecord(s, p, item, event: .patch, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Cuts or zero-extends a file to `size` bytes.
    public func truncateFile(_ session: String, path: String, size newSize: UInt64, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard case .file(let mode, _, let size, let fileData, let a)? = try s.resolve(p, tree: tree) else {
                throw AFSError.notFound("\(p) is not an existing file in session \(session)")
            }
            let item = try spliced(fileData, size: size, mode: mode, attributes: a, offset: newSize, replacement: [], newSize: newSize)
            return try journalAndRecord(s, p, item, event: .truncate, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Creates a directory. With `parents`, missing parents are created and an existing directory is fine.
    public func makeDirectory(_ session: String, path: String, parents: Bool = false, mode: UInt32 = 0o755, context: MutationContext = .anonymous) throws(AFSError) {
        let (journal, ticket) = try recordMakeDirectory(session, try SessionPath(path), parents: parents, mode: mode, context: context)
        if ticket > 0 { try journal.waitDurable(ticket) }
    }

    /// `makeDirectory` up to its durability wait (ticket 0: nothing was recorded).
    func recordMakeDirectory(
        _ session: String, _ p: SessionPath, parents: Bool, mode: UInt32, context: MutationContext
    ) throws(AFSError) -> (SessionJournal, UInt64) {
        try mutate(session, context, [p]) { (s) throws(AFSError) -> (SessionJournal, UInt64) in
            if let existing = try s.resolve(p, tree: tree) {
                if parents, case .directory = existing { return (s.journal, 0) }
                throw AFSError(.alreadyExists, "\(p) already exists")
            }
            if parents {
                try ensureParents(s, of: p)
            } else {
                try requireParentDirectory(s, of: p)
            }
            let now = AetherStore.now()
            try touchParent(s, of: p, now: now)
            let item = OverlayItem.directory(mode: mode & 0o7777, mtime: now, fresh: true, attributes: newAttributes(context, now: now))
            return try journalAndRecord(s, p, item, event: .mkdir, context)
        }
    }

    /// Creates a symbolic link at `path` pointing to `target` (stored as given, never followed by the store).
    public func symlink(_ session: String, path: String, target: String, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        guard !target.isEmpty, !target.utf8.contains(0), target.utf8.count <= SessionPath.maxPathBytes else {
            throw AFSError.invalidArgument("symlink target must be 1…4096 bytes without NUL")
        }
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            if try s.resolve(p, tree: tree) != nil { throw AFSError(.alreadyExists, "\(p) already exists") }
            try ensureParents(s, of: p)
            let now = AetherStore.now()
            try touchParent(s, of: p, now: now)
            let item = OverlayItem.symlink(mode: 0o777, mtime: now, target: target, attributes: newAttributes(context, now: now))
            return try journalAndRecord(s, p, item, event: .symlink, context, detail: target)
        }
        try journal.waitDurable(ticket)
    }

    /// Creates a FIFO, a Unix socket or a device node at `path` (`mknod`). Only metadata is stored:
    /// `rdev` is recorded for device nodes and ignored for the others; nothing is ever opened
    /// through it. The parent must exist (as for `mknod(2)`).
    public func makeNode(
        _ session: String, path: String, kind: EntryKind, mode: UInt32 = 0o644, rdev: UInt64 = 0, context: MutationContext = .anonymous
    ) throws(AFSError) {
        let p = try SessionPath(path)
        guard kind.isSpecial else {
            throw AFSError.invalidArgument("makeNode creates fifo, socket, char-device or block-device entries, not \(kind.rawValue); write a file or make a directory instead")
        }
        guard !p.isRoot else { throw AFSError(.alreadyExists, "the session root exists") }
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            if try s.resolve(p, tree: tree) != nil { throw AFSError(.alreadyExists, "\(p) already exists") }
            try requireParentDirectory(s, of: p)
            let now = AetherStore.now()
            try touchParent(s, of: p, now: now)
            let device = kind == .characterDevice || kind == .blockDevice ? rdev : 0
            let item = OverlayItem.special(kind: kind, mode: mode & 0o7777, mtime: now, rdev: device, attributes: newAttributes(context, now: now))
            return try journalAndRecord(s, p, item, event: .mknod, context, detail: kind.rawValue)
        }
        try journal.waitDurable(ticket)
    }

    /// Changes permission bits of any entry (the root's included); its content and time stay.
    public func setMode(_ session: String, path: String, mode: UInt32, context: MutationContext = .anonymous) throws(AFSError) {
        let (journal, ticket) = try recordSetMode(session, try SessionPath(path), mode: mode, context: context)
        try journal.waitDurable(ticket)
    }

    /// `setMode` up to its durability wait.
    func recordSetMode(_ session: String, _ p: SessionPath, mode: UInt32, context: MutationContext) throws(AFSError) -> (SessionJournal, UInt64) {
        try recordEntryUpdate(session, p, event: .chmod, context: context) { (item) throws(AFSError) in
            item = item.with(mode: mode & 0o7777)
        }
    }

    /// Sets the modification and/or access time (nanoseconds since 1970; nil leaves one as it is)
    /// of any entry, as `touch -d`, `tar x` and `cp -p` expect; content and mode stay. A later
    /// write moves the modification time to the time of that write.
    public func setTimes(_ session: String, path: String, mtime: Int64?, atime: Int64? = nil, context: MutationContext = .anonymous) throws(AFSError) {
        let (journal, ticket) = try recordSetTimes(session, try SessionPath(path), mtime: mtime, atime: atime, context: context)
        try journal.waitDurable(ticket)
    }

    /// `setTimes` up to its durability wait.
    func recordSetTimes(_ session: String, _ p: SessionPath, mtime: Int64?, atime: Int64?, context: MutationContext) throws(AFSError) -> (SessionJournal, UInt64) {
        try recordEntryUpdate(session, p, event: .touch, context: context) { (item) throws(AFSError) in
            var a = item.attributes
            if let atime { a.atime = atime }
            item = item.with(mtime: mtime, attributes: a)
        }
    }

    /// Records that entries were read (a mount's `relatime`): each path's access time moves
    /// forward to the one given (nanoseconds since 1970). Nothing else changes: not the change
    /// time (reading is not a change), not the session's status, and no changefeed event (no
    /// watcher cares). The records ride the next group commit instead of waiting for one, so a
    /// crash may lose the latest access times, as a local file system's lazy atime writes may.
    /// Paths that are gone, and archived sessions, are skipped. Returns how many entries moved.
    @discardableResult
    public func recordAccessTimes(_ session: String, _ times: [String: Int64]) throws(AFSError) -> Int {
        var entries: [(SessionPath, Int64)] = []
        for (path, time) in times { entries.append((try SessionPath(path), time)) }
        return try mutateAllowingArchived(session) { (s) throws(AFSError) -> Int in
            guard s.info.status != .archived else { return 0 }
            var moved = 0
            for (p, time) in entries {
                guard let view = try s.resolve(p, tree: tree) else { continue }
                var item = view.item(fresh: s.isFreshDirectory(p))
                var a = item.attributes
                guard (a.atime ?? 0) < time else { continue }
                a.atime = time
                item = item.with(attributes: a)
                _ = try s.journal.append(p, item)
                s.record(p, item)
                moved += 1
            }
            if moved > 0 { try foldIfNeeded(s) }
            return moved
        }
    }

    /// Records a new owner and/or group (nil leaves that one as it is). The store checks no
    /// privileges (the mount's kernel and the server's roles do); as `chown(2)` does on Linux, a
    /// change clears the set-user-ID bit, and the set-group-ID bit of a group-executable file.
    public func setOwner(_ session: String, path: String, uid: UInt32?, gid: UInt32?, context: MutationContext = .anonymous) throws(AFSError) {
        try updateEntry(session, path: path, event: .chown, context: context) { (item) throws(AFSError) in
            var a = item.attributes
            if let uid { a.uid = uid }
            if let gid { a.gid = gid }
            var mode = item.mode
            if case .directory = item {} else if uid != nil || gid != nil {
                mode &= ~UInt32(0o4000)
                if mode & 0o010 != 0 { mode &= ~UInt32(0o2000) }
            }
            item = item.with(mode: mode, attributes: a)
        }
    }

    /// The extended attributes of an entry, by name.
    public func extendedAttributes(_ session: String, path: String) throws(AFSError) -> [String: [UInt8]] {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            return view.attributes.xattrs
        }
    }

    /// How ``setExtendedAttribute(_:path:name:value:disposition:context:)`` treats an existing attribute.
    public enum XattrDisposition: String, Sendable, Codable, CaseIterable {
        /// Create or replace.
        case any
        /// Fail with `alreadyExists` if it exists (`XATTR_CREATE`).
        case create
        /// Fail with `notFound` if it does not (`XATTR_REPLACE`).
        case replace
    }

    /// Sets one extended attribute. Only the `user.` namespace is stored (the others carry kernel
    /// or security semantics a session cannot honour); names are at most 255 bytes, values 64 KiB.
    public func setExtendedAttribute(
        _ session: String, path: String, name: String, value: [UInt8], disposition: XattrDisposition = .any, context: MutationContext = .anonymous
    ) throws(AFSError) {
        try AetherStore.validateXattrName(name)
        guard value.count <= EntryAttributes.maxValueBytes else {
            throw AFSError.invalidArgument("extended attribute value is \(value.count) bytes; the limit is \(EntryAttributes.maxValueBytes)")
        }
        try updateEntry(session, path: path, event: .xattr, context: context, detail: name) { (item) throws(AFSError) in
            var a = item.attributes
            switch (disposition, a.xattrs[name] != nil) {
            case (.create, true): throw AFSError(.alreadyExists, "extended attribute \(name) already exists")
            case (.replace, false): throw AFSError.notFound("extended attribute \(name) does not exist")
            default: break
            }
            a.xattrs[name] = value
            guard a.totalXattrBytes <= EntryAttributes.maxTotalBytes else {
                throw AFSError.invalidArgument("the entry's extended attributes would take \(a.totalXattrBytes) bytes; the limit is \(EntryAttributes.maxTotalBytes)")
            }
            item = item.with(attributes: a)
        }
    }

    /// Removes one extended attribute; `notFound` if the entry has none of that name.
    public func removeExtendedAttribute(_ session: String, path: String, name: String, context: MutationContext = .anonymous) throws(AFSError) {
        try AetherStore.validateXattrName(name)
        try updateEntry(session, path: path, event: .xattr, context: context, detail: name) { (item) throws(AFSError) in
            var a = item.attributes
            guard a.xattrs.removeValue(forKey: name) != nil else { throw AFSError.notFound("extended attribute \(name) does not exist") }
            item = item.with(attributes: a)
        }
    }

    static func validateXattrName(_ name: String) throws(AFSError) {
        guard name.hasPrefix("user."), name.utf8.count > 5, name.utf8.count <= EntryAttributes.maxNameBytes, !name.utf8.contains(0) else {
            throw AFSError.invalidArgument(
                "extended attribute name '\(name.prefix(64))' is not stored: only the user. namespace, names of 6…255 bytes")
        }
    }

    /// One metadata edit: the entry is re-recorded as `change` leaves it, keeping its content (a
    /// directory keeps its children, and a fresh one stays fresh), with its change time moved to now.
    private func updateEntry(
        _ session: String, path: String, event: ChangeEvent.Kind, context: MutationContext, detail: String? = nil,
        _ change: (inout OverlayItem) throws(AFSError) -> Void
    ) throws(AFSError) {
        let (journal, ticket) = try recordEntryUpdate(session, try SessionPath(path), event: event, context: context, detail: detail, change)
        try journal.waitDurable(ticket)
    }

    /// `updateEntry` up to its durability wait.
    private func recordEntryUpdate(
        _ session: String, _ p: SessionPath, event: ChangeEvent.Kind, context: MutationContext, detail: String? = nil,
        _ change: (inout OverlayItem) throws(AFSError) -> Void
    ) throws(AFSError) -> (SessionJournal, UInt64) {
        try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            var item = view.item(fresh: s.isFreshDirectory(p))
            try change(&item)
            item = item.with(attributes: item.attributes.changed(at: AetherStore.now()))
            return try journalAndRecord(s, p, item, event: event, context, detail: detail)
        }
    }

    /// Removes a file, a symlink, a special file or an empty directory; with `recursive`, a whole directory.
    public func remove(_ session: String, path: String, recursive: Bool = false, context: MutationContext = .anonymous) throws(AFSError) {
        if let (journal, ticket) = try recordRemove(session, try SessionPath(path), recursive: recursive, context: context) {
            try journal.waitDurable(ticket)
        }
    }

    /// `remove` up to its durability wait (nil: a structural removal, durable already).
    func recordRemove(
        _ session: String, _ p: SessionPath, recursive: Bool, context: MutationContext
    ) throws(AFSError) -> (SessionJournal, UInt64)? {
        guard !p.isRoot else { throw AFSError.invalidPath("cannot remove the session root") }
        return try mutate(session, context, [p]) { (s) throws(AFSError) -> (SessionJournal, UInt64)? in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            if case .directory(_, _, let treeRoot, _) = view {
                let children = try s.children(of: p, treeRoot: treeRoot, tree: tree)
                if !children.isEmpty {
                    guard recursive else { throw AFSError(.notEmpty, "\(p) is a non-empty directory; remove it recursively (-r)") }
                    // Structural: fold, then drop the whole subtree in one O(depth) edit.
                    try fold(s, extra: [(p.components, .delete)])
                    try touchParent(s, of: p, now: AetherStore.now())
                    try markActive(s)
                    try recordEvent(s, .delete, p.description, context)
                    return nil
                }
            }
            let now = AetherStore.now()
            try touchParent(s, of: p, now: now)
            // The file lives on under its other names, one link fewer, changed now (ctime);
            // recorded first, so the deletion's ticket covers them.
            let others = try linkedNames(s, view, except: p)
            if !others.isEmpty {
                let item = view.item(fresh: false)
                _ = try propagate(s, item.with(attributes: item.attributes.changed(at: now)), to: others, from: p, event: nil, context)
            }
            return try journalAndRecord(s, p, .deleted, event: .delete, context)
        }
    }

    /// Gives the file at `existing` one more name, `path` (`link(2)`): both names then show one
    /// inode, one link count and the same data, and a change through either is seen through both.
    /// Directories cannot be linked (`wrongKind`); the new name must not exist and its parent must.
    public func link(_ session: String, from existing: String, to path: String, context: MutationContext = .anonymous) throws(AFSError) {
        let src = try SessionPath(existing)
        let dst = try SessionPath(path)
        guard !dst.isRoot else { throw AFSError(.alreadyExists, "the session root exists") }
        let (journal, ticket) = try mutate(session, context, [src, dst]) { (s) throws(AFSError) in
            guard let view = try s.resolve(src, tree: tree) else { throw AFSError.notFound("\(src) does not exist in session \(session)") }
            if case .directory = view { throw AFSError(.wrongKind, "\(src) is a directory; directories cannot be hard-linked") }
            if try s.resolve(dst, tree: tree) != nil { throw AFSError(.alreadyExists, "\(dst) already exists") }
            try requireParentDirectory(s, of: dst)
            let now = AetherStore.now()
            try touchParent(s, of: dst, now: now)
            var item = view.item(fresh: false)
            var a = item.attributes.changed(at: now)
            a.inode = a.inode ?? InodeNumber.forPath(src.description)
            a.linked = true
            item = item.with(attributes: a)
            // Every existing name takes the new change time (and, the first time, the group's number).
            _ = try journalAndRecord(s, src, item, event: nil, context)
            return try journalAndRecord(s, dst, item, event: .link, context, detail: src.description)
        }
        try journal.waitDurable(ticket)
    }

    /// Every name of the file at `path` (itself alone when it is not hard-linked), sorted.
    public func hardLinks(_ session: String, path: String) throws(AFSError) -> [String] {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            return ([p] + (try linkedNames(s, view, except: p))).map(\.description).sorted()
        }
    }

    /// The other names of the linked file `view` shows at `p` (empty for an unlinked entry).
    func linkedNames(_ s: LiveSession, _ view: LiveSession.View, except p: SessionPath) throws(AFSError) -> Set<SessionPath> {
        guard view.attributes.linked, let inode = view.attributes.inode else { return [] }
        return try s.names(ofLinked: inode, tree: tree).subtracting([p])
    }

    /// Records `item` at each of `names` (the other names of a linked file), with an event per
    /// name of `event`'s kind so mounts and followers drop what they cached of each.
    private func propagate(
        _ s: LiveSession, _ item: OverlayItem, to names: Set<SessionPath>, from origin: SessionPath, event kind: ChangeEvent.Kind?,
        _ context: MutationContext
    ) throws(AFSError) -> UInt64 {
        var last: UInt64 = 0
        for name in names.sorted(by: { $0.description < $1.description }) {
            var event: ChangeEvent?
            if let kind { event = makeEvent(s, kind, name.description, context, detail: origin.description) }
            last = try s.journal.append(name, item, event: event)
            s.record(name, item)
            if let event {
                try coordination.appendEvents([event], durable: false)
                try afterEvent(s, event)
            }
        }
        return last
    }

    /// Moves any entry. An existing non-directory at `to` is replaced; an existing directory is
    /// replaced only by a directory and only when empty. Directories move in O(depth): their
    /// contents are not copied. The moved entry's change time and both parents' times move to now.
    public func rename(_ session: String, from: String, to: String, context: MutationContext = .anonymous) throws(AFSError) {
        let src = try SessionPath(from)
        let dst = try SessionPath(to)
        guard !src.isRoot, !dst.isRoot else { throw AFSError.invalidPath("cannot rename the session root") }
        if src == dst { return }
        guard !dst.hasPrefix(src) else { throw AFSError.invalidArgument("cannot move \(src) into itself (\(dst))") }
        let result = try mutate(session, context, [src, dst]) { (s) throws(AFSError) -> (SessionJournal, UInt64)? in
            guard let view = try s.resolve(src, tree: tree) else { throw AFSError.notFound("\(src) does not exist in session \(session)") }
            guard case .directory? = try s.resolve(dst.parent, tree: tree) else {
                throw AFSError.notFound("destination directory \(dst.parent) does not exist; create it first")
            }
            // A replaced hard-linked file lives on under its other names, one link fewer.
            var replacedNames: Set<SessionPath> = []
            var replacedItem: OverlayItem?
            if let target = try s.resolve(dst, tree: tree) {
                replacedNames = try linkedNames(s, target, except: dst).subtracting([src])
                replacedItem = target.item(fresh: false)
                if case .directory(_, _, let treeRoot, _) = target {
                    guard case .directory = view else { throw AFSError(.wrongKind, "\(dst) is an existing directory") }
                    guard try s.children(of: dst, treeRoot: treeRoot, tree: tree).isEmpty else {
                        throw AFSError(.notEmpty, "\(dst) is a non-empty directory")
                    }
                } else if case .directory = view {
                    throw AFSError(.wrongKind, "cannot replace file \(dst) with a directory")
                }
            }
            let now = AetherStore.now()
            try touchParent(s, of: src, now: now)
            if dst.parent != src.parent { try touchParent(s, of: dst, now: now) }
            switch view {
            case .directory:
                try fold(s)
                guard var value = try tree.lookup(s.info.root, src.components) else {
                    throw AFSError.notFound("\(src) vanished during rename")
                }
                value.attributes = value.attributes.changed(at: now)
                value.attributes.inode = value.attributes.inode ?? InodeNumber.forPath(src.description)
                try fold(s, extra: [(src.components, .delete), (dst.components, .put(value))])
                try markActive(s)
                try recordEvent(s, .rename, src.description, context, detail: dst.description)
                return nil
            default:
                let item = view.item(fresh: false)
                var moved = item.attributes.changed(at: now)
                moved.inode = moved.inode ?? InodeNumber.forPath(src.description)
                // Every record goes to the journal before the last one, whose ticket covers them
                // (a fold in between makes the earlier ones durable in the tree).
                if let replacedItem, !replacedNames.isEmpty {
                    let changed = replacedItem.with(attributes: replacedItem.attributes.changed(at: now))
                    _ = try propagate(s, changed, to: replacedNames, from: dst, event: nil, context)
                }
                _ = try journalAndRecord(s, dst, item.with(attributes: moved), event: nil, context)
                return try journalAndRecord(s, src, .deleted, event: .rename, context, detail: dst.description)
            }
        }
        if let (journal, ticket) = result { try journal.waitDurable(ticket) }
    }

    // MARK: Helpers (caller holds the session lock)

    /// Journals an item and applies it to the overlay; returns what to wait on for durability.
    func journalAndRecord(
        _ s: LiveSession, _ p: SessionPath, _ item: OverlayItem, event kind: ChangeEvent.Kind?, _ context: MutationContext,
        detail: String? = nil
    ) throws(AFSError) -> (SessionJournal, UInt64) {
        var event: ChangeEvent?
        if let kind {
            var size: UInt64?
            var contentID: String?
            if case .file(let mode, let mtime, let sz, let data, _) = item {
                size = sz
                switch data {
                case .bytes(let b): contentID = content.contentID(of: b).hex
                case .stored(let c): contentID = TreeValue(kind: .file, mode: mode, mtime: mtime, size: sz, content: c).contentID?.hex
                }
            }
            event = makeEvent(s, kind, p.description, context, size: size, contentID: contentID, detail: detail)
        }
        // A hard-linked file is one file under several names: what happens to its data through
        // one name happens through all (not a rename's new name, which the caller records next).
        var others: Set<SessionPath> = []
        if item.attributes.linked, let inode = item.attributes.inode, kind != .link {
            others = try s.names(ofLinked: inode, tree: tree).subtracting([p])
        }
        var ticket = try s.journal.append(p, item, event: event)
        s.record(p, item)
        let journal = s.journal
        if let event {
            // The journal record is the durable copy of the event; the catalog row may skip its fsync.
            // Events a failed call left behind (a catalog that was briefly unreachable) go first,
            // so readers of the feed never see a gap that only a replay would fill.
            let events = s.unsentEvents + [event]
            do {
                try coordination.appendEvents(events, durable: false)
                s.unsentEvents = []
            } catch {
                s.unsentEvents = events
                throw error
            }
            try afterEvent(s, event)
        }
        // Journaled after `p`'s record; the ticket returned is the last one, so the caller waits
        // for every name to be durable (a crash never leaves the names with different data).
        if !others.isEmpty { ticket = max(ticket, try propagate(s, item, to: others, from: p, event: kind, context)) }
        try markActive(s)
        try foldIfNeeded(s)
        return (journal, ticket)
    }

    /// A write moves a committed or reviewed session back to `active`; earlier approvals no longer count.
    func markActive(_ s: LiveSession) throws(AFSError) {
        guard s.info.status != .active else { return }
        if [.pendingApproval, .approved, .rejected].contains(s.info.status) {
            try coordination.clearDecisions(session: s.info.id)
        }
        var info = s.info
        info.status = .active
        info.updatedAt = Date()
        try catalog.updateSession(info)
        s.info = info
    }

    /// Checks that `p` can take a file, creates its missing parents, and returns the mode to use
    /// (the given one, else the replaced file's, else 0644), the attributes (the replaced file's,
    /// else the context's owner; change time `now`) and whether the file is new.
    func prepareWrite(
        _ s: LiveSession, _ p: SessionPath, mode: UInt32?, context: MutationContext, now: Int64
    ) throws(AFSError) -> (mode: UInt32, attributes: EntryAttributes, isNew: Bool) {
        let existing = try s.resolve(p, tree: tree)
        if case .directory? = existing { throw AFSError(.wrongKind, "\(p) is a directory") }
        var fileMode: UInt32 = 0o644
        var attributes = newAttributes(context, now: now)
        if case .file(let m, _, _, _, let a)? = existing {
            fileMode = m
            attributes = a.changed(at: now)
        }
        if let mode { fileMode = mode & 0o7777 }
        try ensureParents(s, of: p)
        return (fileMode, attributes, existing == nil)
    }

    /// Attributes of an entry the context's caller creates at `now`.
    func newAttributes(_ context: MutationContext, now: Int64) -> EntryAttributes {
        EntryAttributes(uid: context.uid, gid: context.gid, ctime: now)
    }

    /// `notFound` unless `p`'s parent is an existing directory (`wrongKind` if it is something else).
    func requireParentDirectory(_ s: LiveSession, of p: SessionPath) throws(AFSError) {
        switch try s.resolve(p.parent, tree: tree) {
        case .directory?: return
        case nil: throw AFSError.notFound("parent \(p.parent) does not exist; pass parents (mkdir -p) to create it")
        case let v?: throw AFSError(.wrongKind, "\(p.parent) is a \(v.kind.rawValue), not a directory")
        }
    }

    /// Moves the modification and change time of `p`'s parent directory to `now` (an entry was
    /// added, removed or renamed in it), as every POSIX file system does; build tools and git's
    /// untracked cache read directory times to know what to look at again.
    /// With `notBack`, `now` (a time a writer gave) is not taken when the directory's
    /// modification time is later.
    func touchParent(_ s: LiveSession, of p: SessionPath, now: Int64, notBack: Bool = false) throws(AFSError) {
        let parent = p.parent
        guard case .directory(let mode, let mtime, _, let a)? = try s.resolve(parent, tree: tree) else { return }
        let now = notBack ? max(now, mtime) : now
        let item = OverlayItem.directory(mode: mode, mtime: now, fresh: s.isFreshDirectory(parent), attributes: a.changed(at: now))
        _ = try s.journal.append(parent, item)
        s.record(parent, item)
    }

    /// Creates missing parent directories (as fresh overlay directories).
    func ensureParents(_ s: LiveSession, of p: SessionPath) throws(AFSError) {
        var missing: [SessionPath] = []
        var q = p.parent
        while !q.isRoot {
            if let v = try s.resolve(q, tree: tree) {
                guard case .directory = v else { throw AFSError(.wrongKind, "\(q) is a \(v.kind.rawValue), not a directory") }
                break
            }
            missing.append(q)
            q = q.parent
        }
        let now = AetherStore.now()
        if let top = missing.last { try touchParent(s, of: top, now: now) }
        for dir in missing.reversed() {
            _ = try s.journal.append(dir, .directory(mode: 0o755, mtime: now, fresh: true))
            s.record(dir, .directory(mode: 0o755, mtime: now, fresh: true))
        }
    }

    /// An overlay item for new file content: in the journal when small, in the chunk log when large.
    func fileItem(mode: UInt32, data: [UInt8], mtime: Int64 = AetherStore.now(), attributes: EntryAttributes = .none) throws(AFSError) -> OverlayItem {
        if data.count <= options.journalInlineLimit {
            return .file(mode: mode, mtime: mtime, size: UInt64(data.count), data: .bytes(data), attributes: attributes)
        }
        let c = try content.store(data)
        try log.sync()
        return .file(mode: mode, mtime: mtime, size: UInt64(data.count), data: .stored(c), attributes: attributes)
    }

    /// New content for a byte-range edit. Large chunked files re-chunk only the affected chunks.
    func spliced(
        _ data: OverlayItem.FileData, size: UInt64, mode: UInt32, attributes: EntryAttributes, offset: UInt64, replacement: [UInt8],
        newSize: UInt64
    ) throws(AFSError) -> OverlayItem {
        let now = AetherStore.now()
        let attributes = attributes.changed(at: now)
        if case .stored(let c) = data, case .chunkList = c, newSize > UInt64(options.journalInlineLimit) {
            let items = try content.chunks(of: c, size: size)
            // Affected chunk range [first, last] covering [offset, offset+len) (or the tail for truncation).
            var starts: [UInt64] = []
            var position: UInt64 = 0
            for item in items {
                starts.append(position)
                position += UInt64(item.length)
            }
            let editEnd = max(offset + UInt64(replacement.count), replacement.isEmpty ? size : 0)
            var first = items.count
            for (i, s) in starts.enumerated() where s + UInt64(items[i].length) > min(offset, size) {
                first = i
                break
            }
            if first == items.count { first = max(0, items.count - 1) }
            var last = first
            while last + 1 < items.count, starts[last + 1] < editEnd { last += 1 }
            let regionStart = starts[first]
            let regionEnd = min(size, starts[last] + UInt64(items[last].length))
            var region = try content.read(c, size: size, offset: regionStart, length: regionEnd - regionStart)
            let relative = Int(offset - regionStart)
            if replacement.isEmpty {
                // Truncation (or extension) at `offset`.
                let keep = Int(min(UInt64(region.count), newSize - regionStart))
                region.removeSubrange(keep...)
                if newSize > regionEnd { region.append(contentsOf: [UInt8](repeating: 0, count: Int(newSize - regionEnd))) }
            } else {
                if relative > region.count { region.append(contentsOf: [UInt8](repeating: 0, count: relative - region.count)) }
                let end = min(region.count, relative + replacement.count)
                region.replaceSubrange(relative..<end, with: replacement)
            }
            var writer = ContentStore.StreamWriter(store: content)
            try writer.append(region)
            let middle = try content.chunks(of: try writer.finishChunked(), size: UInt64(region.count))
            let tail = replacement.isEmpty ? [] : Array(items[(last + 1)...])
            var list = Array(items[..<first]) + middle + tail
            list.removeAll { $0.length == 0 }
            let total = list.reduce(0) { $0 + UInt64($1.length) }
            guard total == newSize else { throw AFSError.corrupted("internal: spliced size \(total) != \(newSize)") }
            let listID = try log.put(.chunkList, ChunkList(items: list).encoded)
            try log.sync()
            return .file(mode: mode, mtime: now, size: newSize, data: .stored(.chunkList(listID)), attributes: attributes)
        }
        var bytes: [UInt8]
        switch data {
        case .bytes(let b): bytes = b
        case .stored(let c): bytes = try content.read(c, size: size)
        }
        if replacement.isEmpty {
            if newSize < UInt64(bytes.count) {
                bytes.removeSubrange(Int(newSize)...)
            } else {
                bytes.append(contentsOf: [UInt8](repeating: 0, count: Int(newSize) - bytes.count))
            }
        } else {
            let o = Int(offset)
            if o > bytes.count { bytes.append(contentsOf: [UInt8](repeating: 0, count: o - bytes.count)) }
            let end = min(bytes.count, o + replacement.count)
            bytes.replaceSubrange(o..<end, with: replacement)
        }
        return try fileItem(mode: mode, data: bytes, mtime: now, attributes: attributes)
    }
}

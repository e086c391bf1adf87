import Foundation

extension AetherStore {
    // MARK: Reading

    /// Metadata of a path, or `notFound`.
    public func stat(_ session: String, path: String) throws(AFSError) -> FileStat {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            return try fileStat(p, view)
        }
    }

    func fileStat(_ p: SessionPath, _ view: LiveSession.View) throws(AFSError) -> FileStat {
        switch view {
        case .file(let mode, let mtime, let size, let data):
            let cid: ChunkID
            switch data {
            case .bytes(let b): cid = content.contentID(of: b)
            case .stored(let c): cid = TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: c).contentID!
            }
            return FileStat(path: p.description, kind: .file, mode: mode, size: size, mtime: mtime, contentID: cid.hex, target: nil)
        case .symlink(let mode, let mtime, let target):
            return FileStat(path: p.description, kind: .symlink, mode: mode, size: UInt64(target.utf8.count), mtime: mtime, contentID: nil, target: target)
        case .directory(let mode, let mtime, _):
            return FileStat(path: p.description, kind: .directory, mode: mode, size: 0, mtime: mtime, contentID: nil, target: nil)
        }
    }

    /// Bytes of a file: all of it, or `length` bytes from `offset` (clamped to the file's size).
    public func readFile(_ session: String, path: String, offset: UInt64 = 0, length: UInt64? = nil) throws(AFSError) -> [UInt8] {
        let p = try SessionPath(path)
        let view = try inspect(session) { (s) throws(AFSError) in try s.resolve(p, tree: tree) }
        guard let view else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
        guard case .file(_, _, let size, let data) = view else {
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
        guard case .symlink(_, _, let target)? = view else { throw AFSError.notFound("\(p) is not a symbolic link in session \(session)") }
        return target
    }

    /// The entries of a directory, sorted by name.
    public func list(_ session: String, path: String = "/") throws(AFSError) -> [DirectoryEntry] {
        let p = try SessionPath(path)
        return try inspect(session) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            guard case .directory(_, _, let treeRoot) = view else { throw AFSError(.wrongKind, "\(p) is not a directory") }
            return try s.children(of: p, treeRoot: treeRoot, tree: tree).map { name, v in
                switch v {
                case .file(let mode, let mtime, let size, _): return DirectoryEntry(name: name, kind: .file, mode: mode, size: size, mtime: mtime)
                case .symlink(let mode, let mtime, let target):
                    return DirectoryEntry(name: name, kind: .symlink, mode: mode, size: UInt64(target.utf8.count), mtime: mtime)
                case .directory(let mode, let mtime, _): return DirectoryEntry(name: name, kind: .directory, mode: mode, size: 0, mtime: mtime)
                }
            }
        }
    }

    // MARK: Writing

    /// Creates or replaces a file with `data`. Missing parent directories are created.
    /// Durable on return.
    public func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32? = nil, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        guard !p.isRoot else { throw AFSError(.wrongKind, "cannot write to the session root; name a file") }
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            let fileMode = try prepareWrite(s, p, mode: mode)
            let item = try fileItem(mode: fileMode, data: data)
            return try journalAndRecord(s, p, item, event: .write, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Replaces `data.count` bytes at `offset` (extending the file, zero-filled, if it is shorter).
    public func patchFile(_ session: String, path: String, offset: UInt64, data: [UInt8], context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard case .file(let mode, _, let size, let fileData)? = try s.resolve(p, tree: tree) else {
                throw AFSError.notFound("\(p) is not an existing file in session \(session)")
            }
            let newSize = max(size, offset + UInt64(data.count))
            guard newSize <= UInt64(Int32.max) * 64 else { throw AFSError.invalidArgument("patch would make the file too large") }
            let item = try spliced(fileData, size: size, mode: mode, offset: offset, replacement: data, newSize: newSize)
            return try journalAndRecord(s, p, item, event: .patch, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Cuts or zero-extends a file to `size` bytes.
    public func truncateFile(_ session: String, path: String, size newSize: UInt64, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard case .file(let mode, _, let size, let fileData)? = try s.resolve(p, tree: tree) else {
                throw AFSError.notFound("\(p) is not an existing file in session \(session)")
            }
            let item = try spliced(fileData, size: size, mode: mode, offset: newSize, replacement: [], newSize: newSize)
            return try journalAndRecord(s, p, item, event: .truncate, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Creates a directory. With `parents`, missing parents are created and an existing directory is fine.
    public func makeDirectory(_ session: String, path: String, parents: Bool = false, mode: UInt32 = 0o755, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) -> (SessionJournal, UInt64) in
            if let existing = try s.resolve(p, tree: tree) {
                if parents, case .directory = existing { return (s.journal, 0) }
                throw AFSError(.alreadyExists, "\(p) already exists")
            }
            if parents {
                try ensureParents(s, of: p)
            } else {
                guard case .directory? = try s.resolve(p.parent, tree: tree) else {
                    throw AFSError.notFound("parent \(p.parent) does not exist; pass parents (mkdir -p) to create it")
                }
            }
            return try journalAndRecord(s, p, .directory(mode: mode & 0o7777, mtime: AetherStore.now(), fresh: true), event: .mkdir, context)
        }
        if ticket > 0 { try journal.waitDurable(ticket) }
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
            return try journalAndRecord(s, p, .symlink(mode: 0o777, mtime: AetherStore.now(), target: target), event: .symlink, context, detail: target)
        }
        try journal.waitDurable(ticket)
    }

    /// Changes permission bits of a file, symlink or directory; its content and time stay.
    ///
    /// The root is refused: the tree does not store metadata for it (it is always a 0755 directory).
    public func setMode(_ session: String, path: String, mode: UInt32, context: MutationContext = .anonymous) throws(AFSError) {
        try setMetadata(session, path: path, mode: mode & 0o7777, mtime: nil, event: .chmod, context: context)
    }

    /// Sets the modification time (nanoseconds since 1970) of a file, symlink or directory, as
    /// `touch -d`, `tar x` and `cp -p` expect; content and mode stay. A later write moves it to the
    /// time of that write. The root is refused, as for ``setMode(_:path:mode:context:)``.
    public func setTimes(_ session: String, path: String, mtime: Int64, context: MutationContext = .anonymous) throws(AFSError) {
        try setMetadata(session, path: path, mode: nil, mtime: mtime, event: .touch, context: context)
    }

    /// One metadata edit: the entry is re-recorded with the new mode and/or time, keeping its
    /// content (a directory keeps its children, and a fresh one stays fresh).
    private func setMetadata(
        _ session: String, path: String, mode newMode: UInt32?, mtime newTime: Int64?, event: ChangeEvent.Kind, context: MutationContext
    ) throws(AFSError) {
        let p = try SessionPath(path)
        guard !p.isRoot else {
            throw AFSError.invalidArgument("the session root has no stored mode or time (it is always a 0755 directory); name an entry below it")
        }
        let (journal, ticket) = try mutate(session, context, [p]) { (s) throws(AFSError) in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            let item: OverlayItem
            switch view {
            case .file(let mode, let mtime, let size, let data):
                item = .file(mode: newMode ?? mode, mtime: newTime ?? mtime, size: size, data: data)
            case .symlink(let mode, let mtime, let target):
                item = .symlink(mode: newMode ?? mode, mtime: newTime ?? mtime, target: target)
            case .directory(let mode, let mtime, _):
                var fresh = false
                if case .directory(_, _, true)? = s.overlay[p] { fresh = true }
                item = .directory(mode: newMode ?? mode, mtime: newTime ?? mtime, fresh: fresh)
            }
            return try journalAndRecord(s, p, item, event: event, context)
        }
        try journal.waitDurable(ticket)
    }

    /// Removes a file, a symlink or an empty directory; with `recursive`, a whole directory.
    public func remove(_ session: String, path: String, recursive: Bool = false, context: MutationContext = .anonymous) throws(AFSError) {
        let p = try SessionPath(path)
        guard !p.isRoot else { throw AFSError.invalidPath("cannot remove the session root") }
        let result = try mutate(session, context, [p]) { (s) throws(AFSError) -> (SessionJournal, UInt64)? in
            guard let view = try s.resolve(p, tree: tree) else { throw AFSError.notFound("\(p) does not exist in session \(session)") }
            if case .directory(_, _, let treeRoot) = view {
                let children = try s.children(of: p, treeRoot: treeRoot, tree: tree)
                if !children.isEmpty {
                    guard recursive else { throw AFSError(.notEmpty, "\(p) is a non-empty directory; remove it recursively (-r)") }
                    // Structural: fold, then drop the whole subtree in one O(depth) edit.
                    try fold(s, extra: [(p.components, .delete)])
                    try markActive(s)
                    try recordEvent(s, .delete, p.description, context)
                    return nil
                }
            }
            return try journalAndRecord(s, p, .deleted, event: .delete, context)
        }
        if let (journal, ticket) = result { try journal.waitDurable(ticket) }
    }

    /// Moves a file, symlink or directory. An existing file at `to` is replaced; an existing directory
    /// is refused. Directories move in O(depth): their contents are not copied.
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
            if let target = try s.resolve(dst, tree: tree) {
                if case .directory = target { throw AFSError(.alreadyExists, "\(dst) is an existing directory") }
                if case .directory = view { throw AFSError(.wrongKind, "cannot replace file \(dst) with a directory") }
            }
            switch view {
            case .file(let mode, let mtime, let size, let data):
                _ = try journalAndRecord(s, dst, .file(mode: mode, mtime: mtime, size: size, data: data), event: nil, context)
                return try journalAndRecord(s, src, .deleted, event: .rename, context, detail: dst.description)
            case .symlink(let mode, let mtime, let target):
                _ = try journalAndRecord(s, dst, .symlink(mode: mode, mtime: mtime, target: target), event: nil, context)
                return try journalAndRecord(s, src, .deleted, event: .rename, context, detail: dst.description)
            case .directory:
                try fold(s)
                guard let value = try tree.lookup(s.info.root, src.components) else {
                    throw AFSError.notFound("\(src) vanished during rename")
                }
                try fold(s, extra: [(src.components, .delete), (dst.components, .put(value))])
                try markActive(s)
                try recordEvent(s, .rename, src.description, context, detail: dst.description)
                return nil
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
            if case .file(let mode, let mtime, let sz, let data) = item {
                size = sz
                switch data {
                case .bytes(let b): contentID = content.contentID(of: b).hex
                case .stored(let c): contentID = TreeValue(kind: .file, mode: mode, mtime: mtime, size: sz, content: c).contentID?.hex
                }
            }
            event = makeEvent(s, kind, p.description, context, size: size, contentID: contentID, detail: detail)
        }
        let ticket = try s.journal.append(p, item, event: event)
        s.record(p, item)
        let journal = s.journal
        if let event {
            // The journal record is the durable copy of the event; the catalog row may skip its fsync.
            try coordination.appendEvents([event], durable: false)
            try afterEvent(s, event)
        }
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

    /// Checks that `p` can take a file, creates its missing parents, and returns the mode to use:
    /// the given one, else the replaced file's, else 0644.
    func prepareWrite(_ s: LiveSession, _ p: SessionPath, mode: UInt32?) throws(AFSError) -> UInt32 {
        let existing = try s.resolve(p, tree: tree)
        if case .directory? = existing { throw AFSError(.wrongKind, "\(p) is a directory") }
        var fileMode: UInt32 = 0o644
        if let mode { fileMode = mode & 0o7777 } else if case .file(let m, _, _, _)? = existing { fileMode = m }
        try ensureParents(s, of: p)
        return fileMode
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
        for dir in missing.reversed() {
            _ = try s.journal.append(dir, .directory(mode: 0o755, mtime: now, fresh: true))
            s.record(dir, .directory(mode: 0o755, mtime: now, fresh: true))
        }
    }

    /// An overlay item for new file content: in the journal when small, in the chunk log when large.
    func fileItem(mode: UInt32, data: [UInt8], mtime: Int64 = AetherStore.now()) throws(AFSError) -> OverlayItem {
        if data.count <= options.journalInlineLimit {
            return .file(mode: mode, mtime: mtime, size: UInt64(data.count), data: .bytes(data))
        }
        let c = try content.store(data)
        try log.sync()
        return .file(mode: mode, mtime: mtime, size: UInt64(data.count), data: .stored(c))
    }

    /// New content for a byte-range edit. Large chunked files re-chunk only the affected chunks.
    func spliced(
        _ data: OverlayItem.FileData, size: UInt64, mode: UInt32, offset: UInt64, replacement: [UInt8], newSize: UInt64
    ) throws(AFSError) -> OverlayItem {
        let now = AetherStore.now()
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
            return .file(mode: mode, mtime: now, size: newSize, data: .stored(.chunkList(listID)))
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
        return try fileItem(mode: mode, data: bytes, mtime: now)
    }
}

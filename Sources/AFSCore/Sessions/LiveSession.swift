import Foundation

/// An open session: its catalog record, its dirty overlay and its journal, under one lock.
///
/// The overlay maps paths to unfolded changes. Its rule: an overlay item at a path replaces the tree
/// entry there; a deleted, file, symlink or fresh-directory item also hides everything the tree
/// has below that path.
final class LiveSession: @unchecked Sendable {
    // @unchecked: every mutable property is guarded by `lock`; callers use `withLock`.
    let lock = NSLock()
    var info: SessionInfo
    var overlay: [SessionPath: OverlayItem] = [:]
    /// Names with overlay items, per parent directory (for listings).
    var overlayChildren: [SessionPath: Set<String>] = [:]
    var overlayCost = 0
    var journal: SessionJournal
    /// The last changefeed sequence number handed out.
    var lastSeq: UInt64 = 0

    init(info: SessionInfo, journal: SessionJournal, items: [(SessionPath, OverlayItem)]) {
        self.info = info
        self.journal = journal
        for (path, item) in items { record(path, item) }
    }

    func withLock<R>(_ body: () throws(AFSError) -> R) throws(AFSError) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var isDirty: Bool { !overlay.isEmpty }

    /// Puts an item in the overlay (no journaling).
    func record(_ path: SessionPath, _ item: OverlayItem) {
        if let old = overlay[path] { overlayCost -= old.memoryCost }
        overlay[path] = item
        overlayCost += item.memoryCost
        if !path.isRoot { overlayChildren[path.parent, default: []].insert(path.name) }
    }

    func clearOverlay() {
        overlay.removeAll()
        overlayChildren.removeAll()
        overlayCost = 0
    }

    /// The merged view of one path.
    enum View {
        case file(mode: UInt32, mtime: Int64, size: UInt64, data: OverlayItem.FileData)
        case symlink(mode: UInt32, mtime: Int64, target: String)
        /// `treeRoot`: the directory's map in the folded tree, nil when the overlay replaced it.
        case directory(mode: UInt32, mtime: Int64, treeRoot: ChunkID?)

        var kind: EntryKind {
            switch self {
            case .file: return .file
            case .symlink: return .symlink
            case .directory: return .directory
            }
        }
    }

    /// Whether an overlay item at `path` hides the tree's entries below it.
    private func hidesBelow(_ path: SessionPath) -> Bool {
        switch overlay[path] {
        case .deleted?, .file?, .symlink?: return true
        case .directory(_, _, let fresh)?: return fresh
        case nil: return false
        }
    }

    /// Whether the tree is visible at `path` (no ancestor in the overlay hides it).
    private func treeVisible(below parent: SessionPath) -> Bool {
        var p = parent
        while true {
            if hidesBelow(p) { return false }
            if p.isRoot { return true }
            p = p.parent
        }
    }

    func resolve(_ path: SessionPath, tree: FileTree) throws(AFSError) -> View? {
        if path.isRoot {
            if case .directory(let mode, let mtime, _)? = overlay[path] {
                return .directory(mode: mode, mtime: mtime, treeRoot: info.root)
            }
            return .directory(mode: 0o755, mtime: 0, treeRoot: info.root)
        }
        if let item = overlay[path] {
            switch item {
            case .deleted: return nil
            case .file(let mode, let mtime, let size, let data): return .file(mode: mode, mtime: mtime, size: size, data: data)
            case .symlink(let mode, let mtime, let target): return .symlink(mode: mode, mtime: mtime, target: target)
            case .directory(let mode, let mtime, let fresh):
                var treeRoot: ChunkID?
                if !fresh, treeVisible(below: path.parent), let v = try tree.lookup(info.root, path.components) {
                    treeRoot = v.directoryRoot
                }
                return .directory(mode: mode, mtime: mtime, treeRoot: treeRoot)
            }
        }
        guard treeVisible(below: path.parent), let v = try tree.lookup(info.root, path.components) else { return nil }
        return LiveSession.view(of: v)
    }

    static func view(of v: TreeValue) -> View {
        switch v.content {
        case .directory(let root): return .directory(mode: v.mode, mtime: v.mtime, treeRoot: root)
        case .symlink(let target): return .symlink(mode: v.mode, mtime: v.mtime, target: target)
        default: return .file(mode: v.mode, mtime: v.mtime, size: v.size, data: .stored(v.content))
        }
    }

    /// The merged children of a directory, sorted by name.
    func children(of path: SessionPath, treeRoot: ChunkID?, tree: FileTree) throws(AFSError) -> [(String, View)] {
        var out: [String: View] = [:]
        if let treeRoot {
            for (name, value) in try tree.list(treeRoot) { out[name] = LiveSession.view(of: value) }
        }
        for name in overlayChildren[path] ?? [] {
            out[name] = try resolve(path.appending(name), tree: tree)
        }
        return out.compactMap { k, v in (k, v) }.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
    }

    /// The overlay as tree edits, in path order (parents before children).
    func overlayEdits(content: ContentStore, emptyRoot: ChunkID) throws(AFSError) -> [(path: [String], edit: FileTree.Edit)] {
        var edits: [(path: [String], edit: FileTree.Edit)] = []
        edits.reserveCapacity(overlay.count)
        for (path, item) in overlay where !path.isRoot {
            let edit: FileTree.Edit
            switch item {
            case .deleted: edit = .delete
            case .file(let mode, let mtime, let size, let data):
                let c: TreeValue.Content
                switch data {
                case .bytes(let b): c = try content.store(b)
                case .stored(let s): c = s
                }
                edit = .put(TreeValue(kind: .file, mode: mode, mtime: mtime, size: size, content: c))
            case .symlink(let mode, let mtime, let target):
                edit = .put(TreeValue(kind: .symlink, mode: mode, mtime: mtime, size: UInt64(target.utf8.count), content: .symlink(target)))
            case .directory(let mode, let mtime, let fresh):
                edit = fresh
                    ? .put(TreeValue(kind: .directory, mode: mode, mtime: mtime, size: 0, content: .directory(emptyRoot)))
                    : .setDirectoryMeta(mode: mode, mtime: mtime)
            }
            edits.append((path.components, edit))
        }
        return edits
    }

    /// Chunk IDs the overlay refers to that the tree may not (GC roots while unfolded).
    var overlayChunkRefs: [(TreeValue.Content, UInt64)] {
        overlay.values.compactMap {
            if case .file(_, _, let size, .stored(let c)) = $0 { return (c, size) }
            return nil
        }
    }
}

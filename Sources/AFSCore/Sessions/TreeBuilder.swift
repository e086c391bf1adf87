/// Collects the entries of an import and builds the tree in one bottom-up pass at the end.
struct TreeBuilder {
    let store: AetherStore
    private(set) var edits: [(path: [String], edit: FileTree.Edit)] = []
    /// Non-directory entries seen so far, for hard links (tar `1` entries, `st_nlink` > 1).
    private(set) var files: [SessionPath: TreeValue] = [:]
    let progress: (@Sendable (ImportProgress) -> Void)?
    private var fileCount = 0
    private var byteCount: Int64 = 0

    init(store: AetherStore, progress: (@Sendable (ImportProgress) -> Void)?) {
        self.store = store
        self.progress = progress
    }

    mutating func add(_ path: SessionPath, _ value: TreeValue) {
        guard !path.isRoot else { return }
        edits.append((path.components, .put(value)))
        if value.kind != .directory { files[path] = value }
        if value.kind == .file {
            fileCount += 1
            byteCount += Int64(value.size)
            if fileCount % 500 == 0 { progress?(ImportProgress(files: fileCount, bytes: byteCount)) }
        }
    }

    /// Makes `path` another name of the entry already added at `existing` (a hard link): both
    /// get the group's inode number and the linked mark (a later put of a path replaces an
    /// earlier one). Nil when `existing` was not added (or is a directory).
    mutating func link(_ path: SessionPath, to existing: SessionPath) -> Bool {
        guard var value = files[existing] else { return false }
        if !value.attributes.linked {
            value.attributes.inode = value.attributes.inode ?? InodeNumber.forPath(existing.description)
            value.attributes.linked = true
            edits.append((existing.components, .put(value)))
            files[existing] = value
        }
        add(path, value)
        return true
    }

    /// A directory entry that keeps children added under it (imports list parents before or after children).
    mutating func addDirectory(_ path: SessionPath, mode: UInt32, mtime: Int64, attributes: EntryAttributes = .none) {
        guard !path.isRoot else { return }
        edits.append((path.components, .setDirectoryMeta(mode: mode, mtime: mtime, attributes: attributes)))
    }

    /// Stores file bytes read from `body` in pieces.
    func storeFile(_ body: (inout ContentStore.StreamWriter) throws(AFSError) -> Void) throws(AFSError) -> (TreeValue.Content, UInt64) {
        var writer = ContentStore.StreamWriter(store: store.content)
        try body(&writer)
        let size = writer.total
        return (try writer.finish(), size)
    }

    /// Builds the tree: directories first (so metadata edits find them), then everything else.
    func build() throws(AFSError) -> ChunkID {
        let now = AetherStore.now()
        var dirs: [(path: [String], edit: FileTree.Edit)] = []
        var rest: [(path: [String], edit: FileTree.Edit)] = []
        for e in edits {
            if case .setDirectoryMeta = e.edit { dirs.append(e) } else { rest.append(e) }
        }
        var root = try store.tree.apply(store.nodes.emptyRoot, rest, defaultMTime: now)
        // Directory metadata (and empty directories) after their contents exist.
        var creations: [(path: [String], edit: FileTree.Edit)] = []
        for d in dirs {
            guard case .setDirectoryMeta(let mode, let mtime, let attributes) = d.edit else { continue }
            if try store.tree.lookup(root, d.path) == nil {
                creations.append((d.path, .put(TreeValue(kind: .directory, mode: mode, mtime: mtime, size: 0, content: .directory(store.nodes.emptyRoot), attributes: attributes))))
            }
        }
        root = try store.tree.apply(root, creations, defaultMTime: now)
        root = try store.tree.apply(root, dirs, defaultMTime: now)
        progress?(ImportProgress(files: fileCount, bytes: byteCount))
        return root
    }
}

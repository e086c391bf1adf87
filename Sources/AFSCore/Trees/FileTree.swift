/// A file-system tree as a Merkle tree of directories: each directory is a `ProllyMap` from name to
/// `TreeValue`, and a subdirectory's value holds the root of its own map (as git trees do).
///
/// Why directories rather than one map keyed by full path: renaming or deleting a directory is one
/// edit in each parent (O(depth)), not one per descendant; diff and merge skip whole unchanged
/// directories by comparing one ID. The price is a path-copy up the directory chain per fold.
struct FileTree {
    let store: NodeStore

    /// A change to apply at a path.
    enum Edit: Sendable, Equatable {
        case delete
        /// Set the value (for a directory value: replace with that map, usually the empty one).
        case put(TreeValue)
        /// Update a directory's mode and mtime, keeping its children.
        case setDirectoryMeta(mode: UInt32, mtime: Int64, attributes: EntryAttributes = .none)
    }

    // MARK: Lookup

    func lookup(_ root: ChunkID, _ path: [String]) throws(AFSError) -> TreeValue? {
        if path.isEmpty { return rootValue(root) }
        var dir = root
        for (i, name) in path.enumerated() {
            guard let raw = try ProllyMap.get(dir, key: Array(name.utf8), in: store) else { return nil }
            let value = try decode(raw)
            if i == path.count - 1 { return value }
            guard let child = value.directoryRoot else { return nil }
            dir = child
        }
        return nil
    }

    /// The synthetic value of "/" itself.
    func rootValue(_ root: ChunkID) -> TreeValue {
        TreeValue(kind: .directory, mode: 0o755, mtime: 0, size: 0, content: .directory(root))
    }

    func list(_ dirRoot: ChunkID) throws(AFSError) -> [(name: String, value: TreeValue)] {
        var out: [(name: String, value: TreeValue)] = []
        try ProllyMap.forEach(dirRoot, in: store) { (k, v) throws(AFSError) in
            out.append((String(decoding: k, as: UTF8.self), try decode(v)))
        }
        return out
    }

    func decode(_ raw: [UInt8]) throws(AFSError) -> TreeValue {
        do { return try TreeValue.decode(raw) } catch { throw AFSError.corrupted("a tree entry does not decode") }
    }

    /// Depth-first walk of every entry below `root`, paths relative to it.
    func walk(_ root: ChunkID, prefix: [String] = [], _ body: ([String], TreeValue) throws(AFSError) -> Void) throws(AFSError) {
        for (name, value) in try list(root) {
            let path = prefix + [name]
            try body(path, value)
            if let child = value.directoryRoot { try walk(child, prefix: path, body) }
        }
    }

    // MARK: Editing

    /// Applies path edits bottom-up and returns the new root. Parents that do not exist are created
    /// (mode 0755) when a put lies below them; deletes below a missing parent are no-ops.
    func apply(_ root: ChunkID, _ edits: [(path: [String], edit: Edit)], defaultMTime: Int64) throws(AFSError) -> ChunkID {
        if edits.isEmpty { return root }
        return try applyInDirectory(root, edits[...], depth: 0, defaultMTime: defaultMTime)
    }

    private func applyInDirectory(
        _ dir: ChunkID, _ edits: ArraySlice<(path: [String], edit: Edit)>, depth: Int, defaultMTime: Int64
    ) throws(AFSError) -> ChunkID {
        var direct: [String: Edit] = [:]
        var nested: [String: [(path: [String], edit: Edit)]] = [:]
        for e in edits {
            let name = e.path[depth]
            if e.path.count == depth + 1 {
                direct[name] = e.edit
            } else {
                nested[name, default: []].append(e)
            }
        }
        var names = Set(direct.keys)
        names.formUnion(nested.keys)
        var mapEdits: [(key: [UInt8], edit: ProllyMap.Edit)] = []
        for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let key = Array(name.utf8)
            var value: TreeValue?
            var changed = false
            switch direct[name] {
            case .delete?:
                value = nil
                changed = true
            case .put(let v)?:
                value = v
                changed = true
            case .setDirectoryMeta(let mode, let mtime, let attributes)?:
                if let raw = try ProllyMap.get(dir, key: key, in: store) {
                    var v = try decode(raw)
                    if v.kind == .directory {
                        v.mode = mode
                        v.mtime = mtime
                        v.attributes = attributes
                        changed = true
                    }
                    value = v
                }
            case nil:
                if let raw = try ProllyMap.get(dir, key: key, in: store) { value = try decode(raw) }
            }
            if let below = nested[name] {
                let hasPut = below.contains { if case .delete = $0.edit { return false } else { return true } }
                if value?.kind != .directory {
                    if !hasPut { if changed { mapEdits.append((key, value.map { .put($0.encoded) } ?? .delete)) }; continue }
                    value = TreeValue(kind: .directory, mode: 0o755, mtime: defaultMTime, size: 0, content: .directory(store.emptyRoot))
                }
                let childRoot = try applyInDirectory(value!.directoryRoot!, below[...], depth: depth + 1, defaultMTime: defaultMTime)
                if childRoot != value!.directoryRoot! {
                    value!.content = .directory(childRoot)
                    changed = true
                }
            }
            if changed { mapEdits.append((key, value.map { .put($0.encoded) } ?? .delete)) }
        }
        return try ProllyMap.apply(dir, edits: mapEdits, in: store)
    }

    // MARK: Diff

    struct Change: Sendable {
        var path: [String]
        var old: TreeValue?
        var new: TreeValue?
    }

    /// Every path whose entry differs, recursing only into directories whose maps differ.
    /// A directory present on one side only is reported with all its descendants.
    func diff(_ a: ChunkID, _ b: ChunkID, prefix: [String] = []) throws(AFSError) -> [Change] {
        var out: [Change] = []
        for d in try ProllyMap.diff(a, b, in: store) {
            let path = prefix + [String(decoding: d.key, as: UTF8.self)]
            let old = try d.old.map { (raw) throws(AFSError) in try decode(raw) }
            let new = try d.new.map { (raw) throws(AFSError) in try decode(raw) }
            let oldDir = old?.directoryRoot
            let newDir = new?.directoryRoot
            if let oldDir, let newDir {
                if !old!.sameMetadataIgnoringTimes(new!) { out.append(Change(path: path, old: old, new: new)) }
                out += try diff(oldDir, newDir, prefix: path)
                continue
            }
            if let o = old, let n = new, o.content == n.content, o.sameMetadataIgnoringTimes(n) {
                continue  // only times moved: not a change of the tree's contents
            }
            out.append(Change(path: path, old: old, new: new))
            if let oldDir { try walk(oldDir, prefix: path) { p, v in out.append(Change(path: p, old: v, new: nil)) } }
            if let newDir { try walk(newDir, prefix: path) { p, v in out.append(Change(path: p, old: nil, new: v)) } }
        }
        return out
    }

    // MARK: Merge

    struct MergeResult: Sendable {
        var root: ChunkID
        var conflicts: [[String]]
    }

    /// Three-way merge of `theirs` into `ours` against `base`, per path. A path changed on one side
    /// takes that side; changed identically on both, either; directories changed on both sides merge
    /// recursively; anything else is a conflict and the result keeps ours for it.
    func merge(base: ChunkID, ours: ChunkID, theirs: ChunkID, prefix: [String] = []) throws(AFSError) -> MergeResult {
        if ours == theirs || base == theirs { return MergeResult(root: ours, conflicts: []) }
        if base == ours { return MergeResult(root: theirs, conflicts: []) }
        var ourChanges: [[UInt8]: ProllyMap.Difference] = [:]
        for d in try ProllyMap.diff(base, ours, in: store) { ourChanges[d.key] = d }
        var edits: [(key: [UInt8], edit: ProllyMap.Edit)] = []
        var conflicts: [[String]] = []
        for t in try ProllyMap.diff(base, theirs, in: store) {
            let path = prefix + [String(decoding: t.key, as: UTF8.self)]
            guard let o = ourChanges[t.key] else {
                edits.append((t.key, t.new.map { .put($0) } ?? .delete))
                continue
            }
            if o.new == t.new { continue }
            if let on = o.new, let tn = t.new {
                let a = try decode(on)
                let b = try decode(tn)
                // The same bytes written on both sides at different times agree.
                if a.content == b.content && a.sameMetadataIgnoringTimes(b) && a.kind != .directory { continue }
                // A side that only moved times yields to the other's real change.
                if let raw = t.old, a.kind != .directory {
                    let base = try decode(raw)
                    if base.content == b.content && base.sameMetadataIgnoringTimes(b) { continue }
                    if base.content == a.content && base.sameMetadataIgnoringTimes(a) {
                        edits.append((t.key, .put(tn)))
                        continue
                    }
                }
            }
            // Both sides changed this name: merge directories that exist on all three sides.
            if let b = try t.old.map({ (raw) throws(AFSError) in try decode(raw) }), let bd = b.directoryRoot,
                let on = try o.new.map({ (raw) throws(AFSError) in try decode(raw) }), let od = on.directoryRoot,
                let tn = try t.new.map({ (raw) throws(AFSError) in try decode(raw) }), let td = tn.directoryRoot
            {
                let sub = try merge(base: bd, ours: od, theirs: td, prefix: path)
                conflicts += sub.conflicts
                var merged = on
                merged.content = .directory(sub.root)
                if tn.mode != b.mode && on.mode == b.mode { merged.mode = tn.mode }
                // Owner and extended attributes: theirs when only they changed them.
                var bare = b
                bare.mode = on.mode
                if on.sameMetadataIgnoringTimes(bare) && !tn.sameMetadataIgnoringTimes(bare.with(mode: tn.mode)) {
                    merged.attributes = tn.attributes
                }
                edits.append((t.key, .put(merged.encoded)))
                continue
            }
            conflicts.append(path)
        }
        edits.sort { $0.key.lexicographicallyPrecedes($1.key) }
        let root = try ProllyMap.apply(ours, edits: edits, in: store)
        return MergeResult(root: root, conflicts: conflicts)
    }
}

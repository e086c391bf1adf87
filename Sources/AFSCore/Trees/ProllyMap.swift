import CXXHash

/// Operations on immutable, content-addressed B+trees whose node boundaries come from a hash of
/// the key (as in Dolt's prolly trees), so a map's shape depends only on its contents.
///
/// That property is what makes everything else cheap: two maps with the same entries share the
/// same root ID; diff skips equal subtrees; merges are deterministic. An edit rewrites the leaves it
/// touches (continuing into the next leaf only when a boundary moved) plus the internal levels.
enum ProllyMap {
    /// One in `fanout` keys ends a node.
    static let fanout: UInt64 = 32
    /// Hard limits that cut a node even without a hash boundary (hostile keys cannot make huge nodes).
    static let maxEntries = 1024
    static let maxBytes = 64 << 10

    struct Ref: Sendable {
        var lastKey: [UInt8]
        var id: ChunkID
        var count: UInt64
        var level: UInt8
    }

    enum Edit: Sendable, Equatable {
        case put([UInt8])
        case delete
    }

    static func isBoundary(_ key: [UInt8], level: UInt8) -> Bool {
        let h = key.withUnsafeBytes { XXH3_64bits_withSeed($0.baseAddress, $0.count, 0x5EED_0000 &+ UInt64(level)) }
        return h % fanout == 0
    }

    // MARK: Reading

    static func get(_ root: ChunkID, key: [UInt8], in store: NodeStore) throws(AFSError) -> [UInt8]? {
        var node = try store.node(root)
        while !node.isLeaf {
            guard let i = firstIndex(in: node.keys, notLessThan: key) else { return nil }
            node = try store.node(node.children[i])
        }
        guard let i = firstIndex(in: node.keys, notLessThan: key), node.keys[i] == key else { return nil }
        return node.values[i]
    }

    /// Every entry in key order.
    static func entries(_ root: ChunkID, in store: NodeStore) throws(AFSError) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        try forEach(root, in: store) { k, v in out.append((k, v)) }
        return out
    }

    static func forEach(
        _ root: ChunkID, in store: NodeStore, _ body: ([UInt8], [UInt8]) throws(AFSError) -> Void
    ) throws(AFSError) {
        let node = try store.node(root)
        if node.isLeaf {
            for i in node.keys.indices { try body(node.keys[i], node.values[i]) }
        } else {
            for child in node.children { try forEach(child, in: store, body) }
        }
    }

    static func count(_ root: ChunkID, in store: NodeStore) throws(AFSError) -> UInt64 {
        try store.node(root).subtreeCount
    }

    /// Binary search: the first index whose key is >= `key`.
    static func firstIndex(in keys: [[UInt8]], notLessThan key: [UInt8]) -> Int? {
        var lo = 0
        var hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
        }
        return lo < keys.count ? lo : nil
    }

    /// All refs of one level, reading only the internal nodes above it.
    private static func refs(_ root: ChunkID, atLevel target: UInt8, in store: NodeStore) throws(AFSError) -> [Ref] {
        let node = try store.node(root)
        if node.level == target {
            return [Ref(lastKey: node.keys.last ?? [], id: root, count: node.subtreeCount, level: node.level)]
        }
        var out: [Ref] = []
        try collect(node, target: target, into: &out, store: store)
        return out
    }

    private static func collect(_ node: ProllyNode, target: UInt8, into out: inout [Ref], store: NodeStore) throws(AFSError) {
        if node.level == target + 1 {
            for i in node.keys.indices {
                out.append(Ref(lastKey: node.keys[i], id: node.children[i], count: node.counts[i], level: target))
            }
            return
        }
        for child in node.children {
            try collect(try store.node(child), target: target, into: &out, store: store)
        }
    }

    // MARK: Writing

    /// Applies edits (sorted by key, unique keys) and returns the new root.
    static func apply(_ root: ChunkID, edits: [(key: [UInt8], edit: Edit)], in store: NodeStore) throws(AFSError) -> ChunkID {
        if edits.isEmpty { return root }
        let rootNode = try store.node(root)
        let leaves: [Ref] = rootNode.keys.isEmpty ? [] : try refs(root, atLevel: 0, in: store)
        var builder = LevelBuilder(level: 0)
        var editIndex = 0
        var pending: [(key: [UInt8], value: [UInt8])] = []

        for (leafIndex, leaf) in leaves.enumerated() {
            let isLastLeaf = leafIndex == leaves.count - 1
            var leafEditEnd = editIndex
            while leafEditEnd < edits.count,
                isLastLeaf || !leaf.lastKey.lexicographicallyPrecedes(edits[leafEditEnd].key)
            {
                leafEditEnd += 1
            }
            if pending.isEmpty && leafEditEnd == editIndex {
                builder.appendExisting(leaf)
                continue
            }
            let node = try store.node(leaf.id)
            merge(node, edits: edits[editIndex..<leafEditEnd], into: &pending)
            editIndex = leafEditEnd
            try builder.chunk(&pending, final: isLastLeaf, store: store)
        }
        if leaves.isEmpty {
            for e in edits { if case .put(let v) = e.edit { pending.append((e.key, v)) } }
            try builder.chunk(&pending, final: true, store: store)
        }
        return try buildUpperLevels(builder.refs, store: store)
    }

    private static func merge(
        _ node: ProllyNode, edits: ArraySlice<(key: [UInt8], edit: Edit)>, into out: inout [(key: [UInt8], value: [UInt8])]
    ) {
        var i = 0
        var j = edits.startIndex
        while i < node.keys.count || j < edits.endIndex {
            if j == edits.endIndex || (i < node.keys.count && node.keys[i].lexicographicallyPrecedes(edits[j].key)) {
                out.append((node.keys[i], node.values[i]))
                i += 1
            } else {
                let e = edits[j]
                if i < node.keys.count && node.keys[i] == e.key { i += 1 }
                if case .put(let v) = e.edit { out.append((e.key, v)) }
                j += 1
            }
        }
    }

    /// Internal levels are rebuilt from the full list of refs below them, which keeps them
    /// canonical; unchanged nodes hash to their old IDs and cost no storage.
    private static func buildUpperLevels(_ leafRefs: [Ref], store: NodeStore) throws(AFSError) -> ChunkID {
        if leafRefs.isEmpty { return store.emptyRoot }
        var level: UInt8 = 0
        var refs = leafRefs
        while refs.count > 1 {
            level += 1
            var builder = LevelBuilder(level: level)
            var items = refs
            try builder.chunkRefs(&items, store: store)
            refs = builder.refs
        }
        return refs[0].id
    }

    /// Cuts a stream of entries into nodes of one level.
    struct LevelBuilder {
        let level: UInt8
        var refs: [Ref] = []

        init(level: UInt8) { self.level = level }

        mutating func appendExisting(_ ref: Ref) { refs.append(ref) }

        /// Emits nodes from `pending`, keeping a tail with no boundary when more input follows.
        mutating func chunk(_ pending: inout [(key: [UInt8], value: [UInt8])], final: Bool, store: NodeStore) throws(AFSError) {
            var start = 0
            var bytes = 0
            for i in pending.indices {
                bytes += pending[i].key.count + pending[i].value.count + 4
                let n = i - start + 1
                if isBoundary(pending[i].key, level: 0) || n >= maxEntries || bytes >= maxBytes {
                    try emitLeaf(pending[start...i], store: store)
                    start = i + 1
                    bytes = 0
                }
            }
            if final && start < pending.count {
                try emitLeaf(pending[start...], store: store)
                start = pending.count
            }
            pending.removeFirst(start)
        }

        private mutating func emitLeaf(_ slice: ArraySlice<(key: [UInt8], value: [UInt8])>, store: NodeStore) throws(AFSError) {
            var node = ProllyNode(level: 0, keys: [], values: [], children: [], counts: [])
            node.keys.reserveCapacity(slice.count)
            node.values.reserveCapacity(slice.count)
            for e in slice {
                node.keys.append(e.key)
                node.values.append(e.value)
            }
            let id = try store.write(node)
            refs.append(Ref(lastKey: node.keys.last!, id: id, count: UInt64(node.count), level: 0))
        }

        mutating func chunkRefs(_ items: inout [Ref], store: NodeStore) throws(AFSError) {
            var start = 0
            var bytes = 0
            for i in items.indices {
                bytes += items[i].lastKey.count + 44
                let n = i - start + 1
                if isBoundary(items[i].lastKey, level: level) || n >= maxEntries || bytes >= maxBytes || i == items.count - 1 {
                    var node = ProllyNode(level: level, keys: [], values: [], children: [], counts: [])
                    for r in items[start...i] {
                        node.keys.append(r.lastKey)
                        node.children.append(r.id)
                        node.counts.append(r.count)
                    }
                    let id = try store.write(node)
                    refs.append(Ref(lastKey: items[i].lastKey, id: id, count: node.subtreeCount, level: level))
                    start = i + 1
                    bytes = 0
                }
            }
        }
    }

    // MARK: Diff

    struct Difference: Sendable {
        var key: [UInt8]
        var old: [UInt8]?
        var new: [UInt8]?
    }

    /// Entries that differ between two maps. Subtrees with the same ID on both sides are skipped
    /// without being read, so the cost follows the size of the difference, not of the maps.
    static func diff(_ a: ChunkID, _ b: ChunkID, in store: NodeStore) throws(AFSError) -> [Difference] {
        if a == b { return [] }
        let na = try store.node(a)
        let nb = try store.node(b)
        var left = [Ref(lastKey: [], id: a, count: 0, level: na.level)]
        var right = [Ref(lastKey: [], id: b, count: 0, level: nb.level)]
        while true {
            let common = Set(left.map(\.id)).intersection(right.map(\.id))
            if !common.isEmpty {
                left.removeAll { common.contains($0.id) }
                right.removeAll { common.contains($0.id) }
            }
            if left.isEmpty && right.isEmpty { return [] }
            let top = max(left.map(\.level).max() ?? 0, right.map(\.level).max() ?? 0)
            if top == 0 { break }
            left = try expand(left, level: top, store: store)
            right = try expand(right, level: top, store: store)
        }
        let le = try leafEntries(left, store: store)
        let re = try leafEntries(right, store: store)
        var out: [Difference] = []
        var i = 0
        var j = 0
        while i < le.count || j < re.count {
            if j == re.count || (i < le.count && le[i].key.lexicographicallyPrecedes(re[j].key)) {
                out.append(Difference(key: le[i].key, old: le[i].value, new: nil))
                i += 1
            } else if i == le.count || re[j].key.lexicographicallyPrecedes(le[i].key) {
                out.append(Difference(key: re[j].key, old: nil, new: re[j].value))
                j += 1
            } else {
                if le[i].value != re[j].value {
                    out.append(Difference(key: le[i].key, old: le[i].value, new: re[j].value))
                }
                i += 1
                j += 1
            }
        }
        return out
    }

    private static func expand(_ refs: [Ref], level: UInt8, store: NodeStore) throws(AFSError) -> [Ref] {
        var out: [Ref] = []
        for r in refs {
            if r.level != level {
                out.append(r)
                continue
            }
            let node = try store.node(r.id)
            for i in node.keys.indices {
                out.append(Ref(lastKey: node.keys[i], id: node.children[i], count: node.counts[i], level: level - 1))
            }
        }
        return out
    }

    private static func leafEntries(_ refs: [Ref], store: NodeStore) throws(AFSError) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        for r in refs {
            let node = try store.node(r.id)
            for i in node.keys.indices { out.append((node.keys[i], node.values[i])) }
        }
        // Leaves from different parts of the tree are already in key order within each side.
        return out
    }

    // MARK: Reachability

    /// Calls `body` for every node ID of the map (for GC marking); skips subtrees `visit` returns false for.
    static func walkNodes(
        _ root: ChunkID, in store: NodeStore, visit: (ChunkID) -> Bool, leaf: (ProllyNode) throws(AFSError) -> Void
    ) throws(AFSError) {
        guard visit(root) else { return }
        let node = try store.node(root)
        if node.isLeaf {
            try leaf(node)
        } else {
            for child in node.children { try walkNodes(child, in: store, visit: visit, leaf: leaf) }
        }
    }
}

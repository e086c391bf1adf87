/// One node of a content-addressed B+tree with key-hash boundaries, stored as a chunk.
///
/// Leaves (level 0) hold sorted keys with their values; internal nodes hold, for each child, the
/// child's last key, its ID and the number of entries below it. Encoding (Docs/FORMAT.md, "Tree
/// nodes"): u8 level, varint count, then per entry a length-prefixed key and either a
/// length-prefixed value (leaf) or id(32) + varint subtree count (internal).
struct ProllyNode: Sendable {
    var level: UInt8
    var keys: [[UInt8]]
    /// Leaf values (empty for internal nodes).
    var values: [[UInt8]]
    /// Child IDs and subtree counts (empty for leaves).
    var children: [ChunkID]
    var counts: [UInt64]

    var isLeaf: Bool { level == 0 }
    var count: Int { keys.count }

    /// Entries below this node.
    var subtreeCount: UInt64 { isLeaf ? UInt64(keys.count) : counts.reduce(0, +) }

    static let empty = ProllyNode(level: 0, keys: [], values: [], children: [], counts: [])

    var encoded: [UInt8] {
        var w = BinaryWriter(capacity: 64 * keys.count + 8)
        w.u8(level)
        w.varint(keys.count)
        for i in keys.indices {
            w.lengthPrefixed(keys[i])
            if isLeaf {
                w.lengthPrefixed(values[i])
            } else {
                w.id(children[i])
                w.varint(counts[i])
            }
        }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(BinaryReader.Malformed) -> ProllyNode {
        var r = BinaryReader(bytes)
        let level = try r.u8()
        let n = try r.length(max: bytes.count)
        var node = ProllyNode(level: level, keys: [], values: [], children: [], counts: [])
        node.keys.reserveCapacity(n)
        for _ in 0..<n {
            node.keys.append(try r.lengthPrefixed())
            if level == 0 {
                node.values.append(try r.lengthPrefixed())
            } else {
                node.children.append(try r.id())
                node.counts.append(try r.varint())
            }
        }
        guard r.isAtEnd else { throw BinaryReader.Malformed() }
        #if AFS_INTERNAL_CHECKS
        node.invariantCheck()
        #endif
        return node
    }

    /// Keys strictly increasing and arrays consistent.
    func invariantCheck() {
        for i in keys.indices.dropFirst() {
            precondition(keys[i - 1].lexicographicallyPrecedes(keys[i]), "tree node keys out of order")
        }
        precondition(isLeaf ? values.count == keys.count : (children.count == keys.count && counts.count == keys.count))
    }
}

import AFSSupport
import Synchronization

/// Reads and writes tree nodes through the chunk log, with a bounded cache of decoded nodes.
///
/// The cache is two generations of a map (the current one is promoted into on hit; when it fills,
/// the older generation is dropped): LRU-like behaviour with O(1) work and a hard bound.
final class NodeStore: Sendable {
    let log: any ChunkStore
    private let cache: Locked<(current: [ChunkID: ProllyNode], previous: [ChunkID: ProllyNode])>
    private let generationCapacity: Int
    /// The ID of the empty map, which every store holds.
    let emptyRoot: ChunkID

    init(log: any ChunkStore, cacheCapacity: Int = 32_768) throws(AFSError) {
        self.log = log
        self.generationCapacity = max(16, cacheCapacity / 2)
        self.cache = Locked(([:], [:]))
        let empty = ProllyNode.empty.encoded
        self.emptyRoot = try log.put(.node, empty)
    }

    func node(_ id: ChunkID) throws(AFSError) -> ProllyNode {
        if let hit = cached(id) { return hit }
        let bytes = try log.get(id)
        let node: ProllyNode
        do {
            node = try ProllyNode.decode(bytes)
        } catch {
            throw AFSError.corrupted("tree node \(id.hex) does not decode")
        }
        insert(id, node)
        return node
    }

    func write(_ node: ProllyNode) throws(AFSError) -> ChunkID {
        let id = try log.put(.node, node.encoded)
        insert(id, node)
        return id
    }

    private func cached(_ id: ChunkID) -> ProllyNode? {
        cache.withLock { c in
            if let n = c.current[id] { return n }
            if let n = c.previous[id] {
                c.current[id] = n
                return n
            }
            return nil
        }
    }

    private func insert(_ id: ChunkID, _ node: ProllyNode) {
        cache.withLock { c in
            if c.current.count >= generationCapacity {
                c.previous = c.current
                c.current = [:]
            }
            c.current[id] = node
        }
    }
}

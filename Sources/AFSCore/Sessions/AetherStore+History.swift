import Foundation

extension AetherStore {
    /// The most commits one ``log(_:limit:skip:)`` answers.
    public static let maxLogLength = 1000

    /// The commits reachable from `start` (a ref's name or a commit ID), newest first, as
    /// `git log` lists them: every parent of a merge is followed, each commit once, ordered by
    /// creation time (ties by ID, so the order is stable). `skip` and `limit` page through it.
    public func log(_ start: String, limit: Int = 100, skip: Int = 0) throws(AFSError) -> [CommitInfo] {
        guard limit > 0, limit <= AetherStore.maxLogLength, skip >= 0 else {
            throw AFSError(.invalidArgument, "limit must be 1…\(AetherStore.maxLogLength) and skip at least 0")
        }
        let head: CommitInfo
        if let ref = try catalog.ref(start) {
            head = try commit(id: ref.commitID)
        } else if let c = try catalog.commit(start) {
            head = c
        } else {
            throw AFSError.notFound("\(start) is neither a ref nor a commit; `aether ref list` shows the refs")
        }
        var out: [CommitInfo] = []
        var seen: Set<String> = [head.id]
        var frontier: [CommitInfo] = [head]
        var skipped = 0
        while !frontier.isEmpty && out.count < limit {
            // The newest commit not yet listed; the frontier stays as small as the history is wide.
            let i = frontier.indices.max { a, b in
                let (x, y) = (frontier[a], frontier[b])
                return x.createdAt != y.createdAt ? x.createdAt < y.createdAt : x.id > y.id
            }!
            let next = frontier.remove(at: i)
            if skipped < skip { skipped += 1 } else { out.append(next) }
            for parent in next.parents where seen.insert(parent).inserted {
                guard let p = try catalog.commit(parent) else {
                    throw AFSError(.corrupted, "commit \(next.id) names parent \(parent), which the catalog does not have")
                }
                frontier.append(p)
            }
        }
        return out
    }
}

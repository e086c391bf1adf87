import Synchronization

/// Short-lived copies of the session's metadata: attributes by path and listings by directory.
///
/// Tools stat the same paths over and over (`git status` lstat()s every tracked file after a
/// readdir, a build probes headers); each miss is a call to the service, a round trip when it is
/// remote. Entries live for `ttl`, so changes made by other writers show up within that time, and
/// the mount drops the entries a change of its own touches at once (``invalidate(_:)``), so it
/// always reads its own writes. A fresh listing also answers for the names it lacks: a lookup of a
/// missing file in a listed directory is an `ENOENT` without a call.
final class MetadataCache: Sendable {
    enum Lookup: Equatable {
        case found(FileAttributes)
        case missing
        /// Nothing fresh is known; ask the service.
        case unknown
    }

    private struct Timed<Value> {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var attributes: [String: Timed<FileAttributes>] = [:]
        var listings: [String: Timed<[(name: String, attributes: FileAttributes)]>] = [:]
    }

    let ttl: Duration
    /// Bounds memory: past this many entries a table is emptied rather than grown (entries are
    /// cheap to re-fetch and live for a second anyway).
    let capacity: Int
    private let state = Mutex(State())

    init(ttl: Duration = .seconds(1), capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// What is known about `path`: its own attributes, else its parent's listing.
    func lookup(_ path: String) -> Lookup {
        let now = ContinuousClock.now
        return state.withLock { s in
            if let hit = s.attributes[path], hit.expires > now { return .found(hit.value) }
            guard path != "/", let listing = s.listings[MountPath.parent(of: path)], listing.expires > now else { return .unknown }
            let name = MountPath.name(of: path)
            if let entry = listing.value.first(where: { $0.name == name }) { return .found(entry.attributes) }
            return .missing
        }
    }

    /// A fresh listing of `directory`, if one is cached.
    func listing(_ directory: String) -> [(name: String, attributes: FileAttributes)]? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let hit = s.listings[directory], hit.expires > now else { return nil }
            return hit.value
        }
    }

    func store(_ path: String, _ attributes: FileAttributes) {
        let expires = ContinuousClock.now + ttl
        state.withLock { s in
            if s.attributes.count >= capacity { s.attributes.removeAll(keepingCapacity: true) }
            s.attributes[path] = Timed(value: attributes, expires: expires)
        }
    }

    func store(listing: [(name: String, attributes: FileAttributes)], of directory: String) {
        let expires = ContinuousClock.now + ttl
        state.withLock { s in
            if s.listings.count >= capacity / 16 { s.listings.removeAll(keepingCapacity: true) }
            s.listings[directory] = Timed(value: listing, expires: expires)
        }
    }

    /// Forgets `path` and its parent's listing: what a create, write, chmod or unlink of `path`
    /// changes.
    func invalidate(_ path: String) {
        state.withLock { s in
            s.attributes[path] = nil
            s.listings[path] = nil
            if path != "/" { s.listings[MountPath.parent(of: path)] = nil }
        }
    }

    /// Forgets everything: what a directory rename or removal needs (every path below it moved).
    func invalidateAll() {
        state.withLock { s in
            s.attributes.removeAll()
            s.listings.removeAll()
        }
    }
}

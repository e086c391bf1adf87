/// A set of session paths that answers, in time proportional to a path's depth, whether a path
/// conflicts with any of them: equals one, lies below one, or has one below it
/// (``WriteBack/conflict(_:_:)``, for a whole set at once).
///
/// Why: a write-back worker picking a batch asked, for each of up to 256 queued changes, whether
/// any change before it conflicts: 32,000 path comparisons a pick. During a `tar -x` that scan
/// was a sixth of the mount's CPU (Docs/perf/profiles.md §10). Holding the paths and every proper
/// ancestor of them in hash sets makes each question a handful of lookups, on keys made once per
/// path (``Key``).
///
/// Paths compare as bytes, as everywhere in a session (`Set<String>` would merge paths that are
/// only canonically equivalent, which are different names).
struct PathConflictSet {
    /// A path's bytes and those of its proper ancestors, made once and asked about many times.
    struct Key: Sendable {
        let path: Bytes
        /// Deepest first; `/` last (none for `/` itself).
        let ancestors: [Bytes]

        init(_ path: String) {
            let bytes = Array(path.utf8)
            self.path = Bytes(bytes)
            var ancestors: [Bytes] = []
            if bytes.count > 1 {
                var i = bytes.count - 1
                while i > 0 {
                    if bytes[i] == UInt8(ascii: "/") { ancestors.append(Bytes(Array(bytes[..<i]))) }
                    i -= 1
                }
                ancestors.append(Bytes(Array(bytes[..<1])))
            }
            self.ancestors = ancestors
        }

        var isRoot: Bool { path.bytes.count <= 1 }
    }

    /// A path's bytes, hashed as one block (an array of bytes hashes them one at a time, which
    /// was most of this set's cost).
    struct Bytes: Hashable, Sendable {
        let bytes: [UInt8]

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// The paths inserted.
    private var held: Set<Bytes> = []
    /// Every proper ancestor of a held path, `/` included.
    private var ancestors: Set<Bytes> = []

    mutating func insert(_ key: Key) {
        guard held.insert(key.path).inserted else { return }
        // Deepest first: an ancestor already present brought all of its own with it.
        for ancestor in key.ancestors {
            guard ancestors.insert(ancestor).inserted else { break }
        }
    }

    mutating func insert(_ path: String) { insert(Key(path)) }

    /// Whether the path of `key` equals a held path, is an ancestor of one, or lies below one.
    func conflicts(with key: Key) -> Bool {
        guard !held.isEmpty else { return false }
        if key.isRoot { return true }  // "/" holds everything
        if held.contains(key.path) || ancestors.contains(key.path) { return true }
        return key.ancestors.contains { held.contains($0) }
    }

    func conflicts(with path: String) -> Bool { conflicts(with: Key(path)) }
}

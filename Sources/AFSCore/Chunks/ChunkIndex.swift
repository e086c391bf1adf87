/// The segment log's index from chunk ID to location: a sorted, immutable ``ChunkIndexFile`` on
/// disk plus the changes made since it was written, held in memory until a merge folds them into
/// the next file.
///
/// Memory is what keeps a large store cheap to open: the file is never read whole (a lookup reads
/// one bucket), and the changes in memory are bounded because ``ChunkLog`` merges once they pass
/// its limit. Totals (count, bytes, records per segment) are kept exact as changes arrive, so
/// `store stats` and GC's "is this segment still referenced" need no pass over the file.
///
/// A merge freezes the pending changes (`frozen`) and starts a new `active` set; lookups consult
/// `active`, then `frozen`, then the file, so they stay exact while the new file is written.
/// Not thread-safe: ``ChunkLog`` guards it with its lock, and reads the file outside it.
struct ChunkIndex {
    /// A change: the new location, or nil for a removed ID.
    typealias Changes = [ChunkID: ChunkLocation?]

    private(set) var base: ChunkIndexFile?
    private(set) var frozen: Changes?
    private(set) var active: Changes = [:]
    private(set) var count = 0
    private(set) var rawBytes: Int64 = 0
    private(set) var storedBytes: Int64 = 0
    private(set) var segmentCounts: [UInt32: Int] = [:]
    /// Recent answers read from `base`, direct-mapped by ID (IDs are uniform): a chunk read again,
    /// or looked up twice before it is appended, costs no second bucket read. Absent answers are
    /// kept too: an ID appended later is found in `active` first. Cleared when `base` changes.
    private var cache: [(id: ChunkID, location: ChunkLocation?)?]
    private static let cacheSlots = 4096

    init(base: ChunkIndexFile?) {
        self.base = base
        self.cache = Array(repeating: nil, count: ChunkIndex.cacheSlots)
        if let base {
            count = base.count
            rawBytes = base.rawBytes
            storedBytes = base.storedBytes
            segmentCounts = base.segmentCounts
        }
    }

    /// Changes held in memory (both sets).
    var pendingCount: Int { active.count + (frozen?.count ?? 0) }

    // MARK: Lookups

    /// What memory knows about `id`.
    enum Probe {
        /// The answer (nil: not stored).
        case known(ChunkLocation?)
        /// Only the file knows: ask it, outside the log's lock.
        case ask(ChunkIndexFile)
    }

    func probe(_ id: ChunkID) -> Probe {
        if let change = active[id] { return .known(change) }
        if let change = frozen?[id] { return .known(change) }
        guard let base else { return .known(nil) }
        if let hit = cache[ChunkIndex.slot(id)], hit.id == id { return .known(hit.location) }
        return .ask(base)
    }

    /// Remembers what `file` answered, if it is still the base.
    mutating func remember(_ id: ChunkID, _ location: ChunkLocation?, from file: ChunkIndexFile) {
        if file === base { cache[ChunkIndex.slot(id)] = (id, location) }
    }

    private static func slot(_ id: ChunkID) -> Int { Int(truncatingIfNeeded: id.w1 & UInt64(cacheSlots - 1)) }

    /// The location of `id`, reading the file if memory does not know.
    mutating func lookup(_ id: ChunkID) throws(AFSError) -> ChunkLocation? {
        switch probe(id) {
        case .known(let location): return location
        case .ask(let file):
            let location = try file.lookup(id)
            remember(id, location, from: file)
            return location
        }
    }

    // MARK: Changes

    /// Records `id` at `location`, replacing where it was (a relocated or rewritten record).
    mutating func set(_ id: ChunkID, _ location: ChunkLocation) throws(AFSError) {
        if let old = try lookup(id) { account(old, sign: -1) } else { count += 1 }
        account(location, sign: 1)
        active[id] = .some(location)
    }

    /// Forgets `id`; false when it was not stored.
    @discardableResult
    mutating func remove(_ id: ChunkID) throws(AFSError) -> Bool {
        guard let old = try lookup(id) else { return false }
        account(old, sign: -1)
        count -= 1
        active[id] = .some(nil)
        return true
    }

    private mutating func account(_ location: ChunkLocation, sign: Int) {
        rawBytes += Int64(sign) * Int64(location.rawLength)
        storedBytes += Int64(sign) * Int64(location.recordSize)
        let n = segmentCounts[location.segment, default: 0] + sign
        segmentCounts[location.segment] = n == 0 ? nil : n
    }

    // MARK: Merging

    /// Moves the pending changes aside for a merge; returns them sorted with the file to merge into.
    mutating func freeze() -> (base: ChunkIndexFile?, changes: [(key: ChunkID, value: ChunkLocation?)]) {
        precondition(frozen == nil, "one merge at a time")
        frozen = active
        active = [:]
        return (base, frozen!.sorted { $0.key < $1.key })
    }

    /// The merge's file is in place: it replaces the old one and the frozen changes it holds.
    mutating func install(_ file: ChunkIndexFile) {
        base = file
        frozen = nil
        cache = Array(repeating: nil, count: ChunkIndex.cacheSlots)
    }

    /// The merge failed: its changes go back under the newer ones.
    mutating func thaw() {
        guard let frozen else { return }
        active.merge(frozen) { newer, _ in newer }
        self.frozen = nil
    }

    /// What a full pass reads: the file and every change over it, newest winning, sorted.
    func passSources() -> (base: ChunkIndexFile?, changes: [(key: ChunkID, value: ChunkLocation?)]) {
        var changes = frozen ?? [:]
        changes.merge(active) { _, newer in newer }
        return (base, changes.sorted { $0.key < $1.key })
    }

    /// Calls `body` with every entry of `base` with `changes` (sorted by ID) applied, in ID order.
    static func forEach(
        base: ChunkIndexFile?, changes: [(key: ChunkID, value: ChunkLocation?)], _ body: (ChunkID, ChunkLocation) throws(AFSError) -> Void
    ) throws(AFSError) {
        var i = 0
        try base?.forEach { (id, location) throws(AFSError) in
            while i < changes.count, changes[i].key < id {
                if let l = changes[i].value { try body(changes[i].key, l) }
                i += 1
            }
            if i < changes.count, changes[i].key == id {
                if let l = changes[i].value { try body(id, l) }
                i += 1
            } else {
                try body(id, location)
            }
        }
        while i < changes.count {
            if let l = changes[i].value { try body(changes[i].key, l) }
            i += 1
        }
    }
}

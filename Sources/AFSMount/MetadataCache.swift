import AFSSupport
import Synchronization

/// Copies of the session's metadata: attributes by path and listings by directory.
///
/// Tools stat the same paths over and over (`git status` lstat()s every tracked file after a
/// readdir, a build probes headers); each miss is a call to the service, a round trip when it is
/// remote. Entries are trusted for `ttl`; while the changefeed is being followed (``trust(until:)``,
/// renewed by every poll that answers) they are trusted for `followedTTL`, because every change
/// to the session then drops the entries it touches as its event arrives. The mount drops the
/// entries a change of its own touches at once (``invalidate(_:)``), so it always reads its own
/// writes. A fresh listing also answers for the names it lacks: a lookup of a missing file in a
/// listed directory is an `ENOENT` without a call.
final class MetadataCache: Sendable {
    enum Lookup: Equatable {
        case found(FileAttributes)
        case missing
        /// Nothing fresh is known; ask the service.
        case unknown
    }

    private struct Timed<Value> {
        var value: Value
        var stored: ContinuousClock.Instant
    }

    private struct State {
        var attributes: [String: Timed<FileAttributes>] = [:]
        /// By directory, then by name: a lookup in a directory of 10,000 names is one hash probe.
        var listings: [String: Timed<[String: FileAttributes]>] = [:]
        /// Paths the service said do not exist (git probes many: `.git/info/exclude`, refs, …).
        var absent: [String: ContinuousClock.Instant] = [:]
        /// Directories an entry was made in or removed from through this mount, with the time
        /// it happened: a floor for the times any answer shows for them (``touchParent(of:at:)``).
        var touched: [String: Timed<Int64>] = [:]
        /// Until when the changefeed vouches for the cache (nil: it does not).
        var trustedUntil: ContinuousClock.Instant?
        /// Moves on every invalidation, so an answer fetched before one is not stored after it.
        var generation: UInt64 = 0
        /// Moves each time everything is forgotten (``invalidateAll()``).
        var epoch: UInt64 = 0
        /// Every proper ancestor of every path the tables hold (and only those, give or take
        /// paths whose entries have gone since): whether anything can be cached below a path, so
        /// that dropping a subtree that holds nothing (git renames `index.lock` over `index` on
        /// every `git status`) costs a probe instead of a pass over every table. If a path is
        /// here, so are its ancestors.
        var containers: Set<String> = []

        mutating func noteAncestors(of path: String) {
            var current = Substring(path)
            while let slash = current.utf8.lastIndex(of: UInt8(ascii: "/")) {
                let parent = slash == current.startIndex ? "/" : current[..<slash]
                guard containers.insert(String(parent)).inserted, parent != "/" else { return }
                current = parent
            }
        }
    }

    let ttl: Duration
    /// How long entries live while the changefeed is followed. Bounded anyway, so memory turns over
    /// and a missed event (there should be none) heals.
    let followedTTL: Duration
    /// Bounds memory: past this many entries a table is emptied rather than grown (entries are
    /// cheap to re-fetch).
    let capacity: Int
    private let state = UnfairLocked(State())

    /// What entries are timed by (the monotonic clock; tests pass one they move by hand).
    let now: @Sendable () -> ContinuousClock.Instant

    init(
        ttl: Duration = .seconds(1), followedTTL: Duration = .seconds(60), capacity: Int = 100_000,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.ttl = ttl
        self.followedTTL = max(ttl, followedTTL)
        self.capacity = capacity
        self.now = now
    }

    /// The changefeed has been read up to now and will be again before `deadline`: entries may
    /// live for `followedTTL` until then.
    func trust(until deadline: ContinuousClock.Instant) {
        state.withLock { $0.trustedUntil = deadline }
    }

    /// Whether the changefeed vouches for the cache now.
    var isTrusted: Bool {
        let now = self.now()
        return state.withLock { s in s.trustedUntil.map { $0 > now } ?? false }
    }

    private static func fresh<V>(_ entry: Timed<V>, _ s: State, now: ContinuousClock.Instant, ttl: Duration, followedTTL: Duration) -> Bool {
        let age = now - entry.stored
        if age < ttl { return true }
        guard let until = s.trustedUntil, until > now else { return false }
        return age < followedTTL
    }

    /// What is known about `path`: its own attributes, else its parent's listing.
    func lookup(_ path: String) -> Lookup {
        let now = self.now()
        let (ttl, followedTTL) = (self.ttl, self.followedTTL)
        return state.withLock { s in
            if let hit = s.attributes[path], Self.fresh(hit, s, now: now, ttl: ttl, followedTTL: followedTTL) {
                return .found(Self.floored(path, hit.value, s, now: now, followedTTL: followedTTL))
            }
            if let stored = s.absent[path], Self.fresh(Timed(value: (), stored: stored), s, now: now, ttl: ttl, followedTTL: followedTTL) { return .missing }
            guard path != "/", let listing = s.listings[MountPath.parent(of: path)], Self.fresh(listing, s, now: now, ttl: ttl, followedTTL: followedTTL)
            else { return .unknown }
            if let attributes = listing.value[MountPath.name(of: path)] { return .found(Self.floored(path, attributes, s, now: now, followedTTL: followedTTL)) }
            return .missing
        }
    }

    /// `attributes` of `path` with its times moved up to the last change made in it through this
    /// mount, if that is newer: an answer the service gave before it applied a queued create or
    /// removal there (or a listing taken before) must not take the directory's times back.
    func floored(_ path: String, _ attributes: FileAttributes) -> FileAttributes {
        let now = self.now()
        let followedTTL = self.followedTTL
        return state.withLock { s in Self.floored(path, attributes, s, now: now, followedTTL: followedTTL) }
    }

    private static func floored(_ path: String, _ attributes: FileAttributes, _ s: State, now: ContinuousClock.Instant, followedTTL: Duration) -> FileAttributes {
        guard let touch = s.touched[path], now - touch.stored < followedTTL, attributes.kind == .directory else { return attributes }
        var a = attributes
        a.mtime = max(a.mtime, touch.value)
        a.ctime = max(a.ctime ?? a.mtime, touch.value)
        return a
    }

    /// The attributes of `path` with its content identity, if fresh ones were stored from a stat,
    /// or, while the changefeed is followed, from a listing (a file opened right after its
    /// directory was read needs no `stat`).
    func contentAttributes(_ path: String) -> FileAttributes? {
        let now = self.now()
        let (ttl, followedTTL) = (self.ttl, self.followedTTL)
        return state.withLock { s in
            if let hit = s.attributes[path], Self.fresh(hit, s, now: now, ttl: ttl, followedTTL: followedTTL) {
                return hit.value.contentID == nil ? nil : hit.value
            }
            // A listing's content IDs only while the changefeed vouches for them: without it an
            // open asks the service (close-to-open), as it did before listings carried them.
            guard path != "/", let until = s.trustedUntil, until > now, let listing = s.listings[MountPath.parent(of: path)],
                Self.fresh(listing, s, now: now, ttl: ttl, followedTTL: followedTTL),
                let entry = listing.value[MountPath.name(of: path)], entry.contentID != nil
            else { return nil }
            return entry
        }
    }

    /// A fresh listing of `directory`, if one is cached, sorted by name.
    func listing(_ directory: String) -> [(name: String, attributes: FileAttributes)]? {
        let now = self.now()
        let (ttl, followedTTL) = (self.ttl, self.followedTTL)
        let entries = state.withLock { s -> [String: FileAttributes]? in
            guard let hit = s.listings[directory], Self.fresh(hit, s, now: now, ttl: ttl, followedTTL: followedTTL) else { return nil }
            guard !s.touched.isEmpty else { return hit.value }
            var entries = hit.value
            for (name, attributes) in entries where attributes.kind == .directory {
                entries[name] = Self.floored(MountPath.join(directory, name), attributes, s, now: now, followedTTL: followedTTL)
            }
            return entries
        }
        return entries?.map { (name: $0.key, attributes: $0.value) }.sorted { $0.name < $1.name }
    }

    /// Take this before asking the service and hand it to `store`: an answer that raced an
    /// invalidation (the mount's own upload of the file, an event) may predate it, and storing it
    /// would bring the old version back for as long as entries live.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// How many times everything was forgotten (a restore, an undo, a gap in the changefeed).
    var epoch: UInt64 { state.withLock { $0.epoch } }

    func store(_ path: String, _ attributes: FileAttributes, asOf generation: UInt64) {
        let now = self.now()
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.attributes.count >= capacity { s.attributes.removeAll(keepingCapacity: true) }
            s.attributes[path] = Timed(value: attributes, stored: now)
            s.noteAncestors(of: path)
        }
    }

    /// Remembers that `path` does not exist (an answer to a lookup, with the same freshness and
    /// invalidation rules as attributes: a create anywhere drops it through its event).
    func store(absent path: String, asOf generation: UInt64) {
        let now = self.now()
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.absent.count >= capacity { s.absent.removeAll(keepingCapacity: true) }
            s.absent[path] = now
            s.noteAncestors(of: path)
        }
    }

    func store(listing: [(name: String, attributes: FileAttributes)], of directory: String, asOf generation: UInt64) {
        let now = self.now()
        let byName = Dictionary(listing.map { ($0.name, $0.attributes) }, uniquingKeysWith: { _, last in last })
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.listings.count >= capacity / 4 { s.listings.removeAll(keepingCapacity: true) }
            s.listings[directory] = Timed(value: byName, stored: now)
            s.noteAncestors(of: directory)
        }
    }

    /// Stores the listings of many directories at once: a whole subtree read in one service call
    /// (``TreeWarmer``). All or nothing: an answer that raced an invalidation is dropped whole.
    /// The table of listings makes room for them first (they are what lookups are about to ask
    /// for), and a subtree with more directories than the table holds stores as many as fit.
    func store(listings: [String: [String: FileAttributes]], asOf generation: UInt64) {
        let now = self.now()
        let limit = capacity / 4
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.listings.count + listings.count > limit { s.listings.removeAll(keepingCapacity: true) }
            for (directory, entries) in listings.prefix(limit) {
                s.listings[directory] = Timed(value: entries, stored: now)
                s.noteAncestors(of: directory)
            }
        }
    }

    /// Forgets `path` and its parent's listing: what a create, write, chmod or unlink of `path`
    /// changes.
    func invalidate(_ path: String) {
        state.withLock { s in
            s.generation &+= 1
            s.attributes[path] = nil
            s.absent[path] = nil
            s.listings[path] = nil
            if path != "/" { s.listings[MountPath.parent(of: path)] = nil }
        }
    }

    /// Forgets what is cached of `path` itself but keeps its parent's listing: for a change the
    /// mount shows through its own tables until the service has it (a created file waiting to be
    /// published, a queued `mkdir` or removal), after which ``settle(_:to:)`` updates the listing.
    /// Dropping the listing instead cost a service call per name looked up next in the directory
    /// (`tar -x` and `rm -rf` look up every name).
    func forget(_ path: String) {
        state.withLock { s in
            s.generation &+= 1
            s.attributes[path] = nil
            s.absent[path] = nil
        }
    }

    /// The service now holds `attributes` for `path` (nil: nothing), as the mount's own change
    /// left it: stored, and written into the parent's cached listing in place. A removed
    /// directory's own listing (and anything cached below it) goes.
    func settle(_ path: String, to attributes: FileAttributes?) {
        let now = self.now()
        state.withLock { s in
            s.generation &+= 1
            s.noteAncestors(of: path)
            if let attributes {
                s.attributes[path] = Timed(value: attributes, stored: now)
                s.absent[path] = nil
            } else {
                s.attributes[path] = nil
                s.absent[path] = now
                if s.listings.removeValue(forKey: path) != nil {
                    let prefix = path + "/"
                    s.listings = s.listings.filter { !$0.key.hasPrefix(prefix) }
                }
            }
            guard path != "/" else { return }
            let parent = MountPath.parent(of: path)
            s.listings[parent]?.value[MountPath.name(of: path)] = attributes
        }
    }

    /// Forgets `path`, everything cached below it, and its parent's listing: what a rename or
    /// removal of `path` changes when it may be a directory (every path below it moved). One pass
    /// over the tables, where dropping everything would cost every later lookup a round trip (git
    /// renames `index.lock` over `index` on every `git status`).
    func invalidateTree(_ path: String) {
        let prefix = path == "/" ? "/" : path + "/"
        state.withLock { s in
            s.generation &+= 1
            s.attributes[path] = nil
            s.absent[path] = nil
            s.listings[path] = nil
            if path != "/" { s.listings[MountPath.parent(of: path)] = nil }
            // Nothing below it is cached: done (the usual case, a file renamed or removed).
            guard s.containers.contains(path) else { return }
            s.attributes = s.attributes.filter { !$0.key.hasPrefix(prefix) }
            s.absent = s.absent.filter { !$0.key.hasPrefix(prefix) }
            s.listings = s.listings.filter { !$0.key.hasPrefix(prefix) }
            s.containers = s.containers.filter { !$0.hasPrefix(prefix) }
            s.containers.remove(path)
            if path == "/" { s.containers.removeAll() }
        }
    }

    /// An entry was added to, removed from or renamed in `path`'s parent through this mount: its
    /// modification and change time move to `time` (nanoseconds since 1970), as the service records
    /// them, in place. Dropping the parent's attributes instead cost a service `stat` per create or
    /// unlink, since the kernel (checking permissions on the parent) asks for them after each one.
    ///
    /// The time is also kept as a floor for whatever is shown of the parent next (``floored(_:_:)``):
    /// its attributes may not be cached at all (dropped by an event, known only from a listing),
    /// and the service, asked before it applies the queued change, would answer the old times,
    /// which would then be kept for as long as entries live.
    func touchParent(of path: String, at time: Int64) {
        guard path != "/" else { return }
        let parent = MountPath.parent(of: path)
        let now = self.now()
        state.withLock { s in
            if s.touched.count >= capacity { s.touched.removeAll(keepingCapacity: true) }
            s.touched[parent] = Timed(value: max(s.touched[parent]?.value ?? time, time), stored: now)
            guard var entry = s.attributes[parent] else { return }
            entry.value.mtime = max(entry.value.mtime, time)
            entry.value.ctime = max(entry.value.ctime ?? entry.value.mtime, time)
            s.attributes[parent] = entry
        }
    }

    /// Whether an entry was made, removed or renamed in `path` through this mount lately (its
    /// times carry a floor).
    func isTouched(_ path: String) -> Bool {
        let now = self.now()
        let followedTTL = self.followedTTL
        return state.withLock { s in s.touched[path].map { now - $0.stored < followedTTL } ?? false }
    }

    /// `path`'s times were set explicitly (`utimensat`): its floor no longer applies.
    func clearTouch(_ path: String) {
        state.withLock { _ = $0.touched.removeValue(forKey: path) }
    }

    /// `path` was read through this mount and its access time moved to `time`: in place, in its
    /// attributes and in its parent's listing (which readdirplus answers from).
    func moveAccessTime(of path: String, to time: Int64) {
        state.withLock { s in
            s.attributes[path]?.value.atime = time
            guard path != "/" else { return }
            s.listings[MountPath.parent(of: path)]?.value[MountPath.name(of: path)]?.atime = time
        }
    }

    /// Forgets everything: what a restore or an undo needs (any path may have changed).
    func invalidateAll() {
        state.withLock { s in
            s.generation &+= 1
            s.epoch &+= 1
            s.attributes.removeAll()
            s.absent.removeAll()
            s.listings.removeAll()
            s.containers.removeAll()
        }
    }
}

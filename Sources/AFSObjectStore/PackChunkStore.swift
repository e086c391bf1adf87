import AFSCore
import Crypto
import Foundation
import Synchronization

/// A ``ChunkStore`` on S3: records (``ChunkRecord``s, the bytes the segment log writes) are
/// packed into immutable pack objects, never one object per chunk, each with an index object
/// that says where its records are.
///
/// - **Writes** gather in memory until ``sync()`` (or until a pack's worth, 16 MiB by
///   default), which uploads the pack and then its index: a put is durable exactly when the
///   sync after it returns, and that is when the engine acknowledges a write. Packs are named
///   by the SHA-256 of their bytes, so an upload retried after a lost answer writes the same object.
/// - **Reads** fetch one record with a ranged GET and check it (checksum, decompression,
///   identity) before returning it; a damaged or missing pack is a `corrupted` error naming
///   the chunk and the object, never wrong data. A bounded local cache (``LocalChunkCache``)
///   keeps warm reads off the network.
/// - **Opening** lists the index objects and reads each (the clustered catalog will hold this
///   index; until then the bucket is the whole truth).
/// - **Garbage collection** deletes packs with no live record and repacks those whose live
///   share is low (live records are copied into a new pack first); a record put or found during
///   the collection is never deleted, as the segment log guarantees.
public final class PackChunkStore: ChunkStore, @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`; uploads are serialised by `flushing`.
    public struct Options: Sendable {
        /// A pack is uploaded once this many bytes of records gather, sync or not.
        public var packSize = 16 << 20
        /// Local cache of fetched records (nil: none).
        public var cacheDirectory: String?
        public var cacheBytes: Int64 = 1 << 30
        /// Bytes fetched per cold read (the record asked for and the ones after it, cached).
        public var readAhead = 4 << 20
        /// A pack with no index is deleted by GC once it is this old (seconds): an upload cut off
        /// between pack and index. Younger ones may be an upload whose index is on its way.
        public var orphanAge: Double = 3600

        public init() {}
    }

    /// Where a record lives: its pack and its entry in that pack's index.
    struct Location: Sendable {
        var pack: String
        var entry: PackIndex.Entry
    }

    /// Records gathered for the next pack.
    struct Pending {
        /// Tells batches apart while they upload.
        var serial = 0
        /// The pack's name once its upload has computed it.
        var name: String?
        var bytes: [UInt8] = []
        var entries: [PackIndex.Entry] = []
        var byID: [ChunkID: Int] = [:]
    }

    public let client: S3Client
    let options: Options
    let cache: LocalChunkCache?
    private let lock = NSLock()
    private var index: [ChunkID: Location] = [:]
    /// Pack name → its stored size and index.
    private var packs: [String: (size: Int, index: PackIndex)] = [:]
    private var pending = Pending()
    /// Packs being uploaded: still readable from memory until their index is in the bucket.
    private var uploading: [Pending] = []
    private var epoch: Set<ChunkID>?
    /// The packs that existed when the running collection began: the only ones it may delete.
    /// Meanwhile a record found only in them is no reason to skip a write (it is written again,
    /// into a new pack), so no writer, in this process or in another replica of the store, comes
    /// to rely on a record the collection may be deleting.
    private var epochPacks: Set<String>?
    private var serials = 0
    private let flushing = NSLock()
    /// One listing of the bucket at a time (``discoverPacks()``).
    private let discovering = NSLock()

    static let packMagic = Array("AFSPACK1".utf8)
    static let packPrefix = "packs/"

    init(client: S3Client, options: Options, cache: LocalChunkCache?) {
        self.client = client
        self.options = options
        self.cache = cache
    }

    /// Opens the store in the client's bucket and prefix: checks the bucket (clear errors for a
    /// missing bucket, wrong credentials, an endpoint that does not answer), then loads every
    /// pack index.
    /// - Parameter owner: the identity of the store these records belong to. Garbage collection
    ///   deletes every pack under the prefix that the store does not reference, so a prefix must
    ///   have one owner: the first open records it (`OWNER`), and an open by another store is
    ///   refused instead of destroying the first one's data. nil skips the check.
    public static func open(client: S3Client, owner: String? = nil, options: Options = Options()) throws(AFSError) -> PackChunkStore {
        try client.checkBucket()
        if let owner {
            if try client.size(of: "OWNER") == nil {
                try client.put("OWNER", Array(owner.utf8))
            }
            let recorded = String(decoding: try client.get("OWNER"), as: UTF8.self)
            guard recorded == owner else {
                throw AFSError(
                    .conflict,
                    "s3://\(client.location.bucket)/\(client.location.prefix) belongs to another store (\(recorded)); give this one a prefix of its own (s3://\(client.location.bucket)/OTHER-PREFIX?…)")
            }
        }
        let cache = try options.cacheDirectory.map { (dir) throws(AFSError) in try LocalChunkCache(directory: dir, maxBytes: options.cacheBytes) }
        let store = PackChunkStore(client: client, options: options, cache: cache)
        try store.discoverPacks(strict: true)
        return store
    }

    /// Loads the index of every pack in the bucket this store does not know yet: at open, all
    /// of them; later, the packs other processes sharing the prefix (replicas of one catalog)
    /// uploaded since. Returns whether any was new.
    /// - Parameter strict: refuse an index without its pack, or a damaged one (at open); later,
    ///   such a pack is left for its own reads to report.
    /// - Parameter forgetMissing: also forget known packs that are gone from the bucket (another
    ///   replica's collection deleted them, having copied what was live into new packs).
    @discardableResult
    func discoverPacks(strict: Bool = false, forgetMissing: Bool = false) throws(AFSError) -> Bool {
        discovering.lock()
        defer { discovering.unlock() }
        let prefix = PackChunkStore.packPrefix
        let objects = try client.list(prefix: prefix)
        let sizes = Dictionary(objects.map { ($0.key, $0.size) }, uniquingKeysWith: { a, _ in a })
        if forgetMissing {
            let present = Set(objects.compactMap { $0.key.hasSuffix(".idx") ? String($0.key.dropFirst(prefix.count).dropLast(4)) : nil })
            let gone = lock.withLock { packs.keys.filter { !present.contains($0) } }
            forget(gone)
        }
        let known = lock.withLock { Set(packs.keys) }
        var found = false
        for object in objects where object.key.hasSuffix(".idx") {
            let name = String(object.key.dropFirst(prefix.count).dropLast(4))
            guard !known.contains(name) else { continue }
            guard let packSize = sizes[prefix + name + ".pack"] else {
                guard strict else { continue }
                throw AFSError(.corrupted, "pack index \(object.key) has no pack \(prefix)\(name).pack in s3://\(client.location.bucket)/\(client.location.prefix): its records are lost")
            }
            var bytes: [UInt8]
            do { bytes = try client.get(object.key) } catch where error.code == .notFound && !strict { continue }  // collected meanwhile
            var decoded = PackIndex.decode(bytes)
            // Another replica may be uploading this index right now: SeaweedFS lists an object
            // while its PUT is still arriving, and a GET then returns part of it. Read it again
            // for a few seconds before calling it damaged (a replica restarted after SIGKILL met
            // one in CI while the others kept writing).
            var attempt = 0
            while case .failure = decoded, strict, attempt < 20 {
                attempt += 1
                usleep(250_000)
                guard let again = try? client.get(object.key) else { continue }
                bytes = again
                decoded = PackIndex.decode(bytes)
            }
            switch decoded {
            case .failure(let why):
                guard strict else { continue }
                throw AFSError(.corrupted, "pack index \(object.key) is damaged (\(why)); restore it from a backup or rebuild it from its pack")
            case .success(let packIndex):
                adopt(name, size: Int(packSize), index: packIndex)
                found = true
            }
        }
        return found
    }

    /// Drops packs from the index (deleted by a collection elsewhere); their records are looked up
    /// again among the packs in the bucket.
    private func forget(_ names: [String]) {
        guard !names.isEmpty else { return }
        let gone = Set(names)
        lock.withLock {
            for name in gone { packs[name] = nil }
            let homeless = Set(index.filter { gone.contains($0.value.pack) }.keys)
            index = index.filter { !gone.contains($0.value.pack) }
            rehome(homeless)
        }
    }

    /// Points records whose pack went at another known pack that holds them too (one written by
    /// another replica, adopted while the index still named the old home). Caller holds `lock`.
    private func rehome(_ ids: Set<ChunkID>) {
        guard !ids.isEmpty else { return }
        for (name, pack) in packs {
            for e in pack.index.entries where ids.contains(e.id) && index[e.id] == nil {
                index[e.id] = Location(pack: name, entry: e)
            }
        }
    }

    private func adopt(_ name: String, size: Int, index packIndex: PackIndex) {
        lock.withLock {
            packs[name] = (size, packIndex)
            for e in packIndex.entries where index[e.id] == nil {
                index[e.id] = Location(pack: name, entry: e)
            }
        }
    }

    static func packKey(_ name: String) -> String { packPrefix + name + ".pack" }
    static func indexKey(_ name: String) -> String { packPrefix + name + ".idx" }

    // MARK: Writing

    @discardableResult
    public func put(_ type: RecordType, _ raw: UnsafeRawBufferPointer) throws(AFSError) -> ChunkID {
        guard raw.count <= ChunkRecord.maxPayload else {
            throw AFSError(.invalidArgument, "a record of \(raw.count) bytes exceeds the \(ChunkRecord.maxPayload)-byte limit")
        }
        let (id, record) = ChunkRecord.encode(type, raw)
        let full = lock.withLock { () -> Bool? in
            epoch?.insert(id)
            if pending.byID[id] != nil || uploading.contains(where: { $0.byID[id] != nil }) { return nil }
            if let home = index[id]?.pack, !(epochPacks?.contains(home) ?? false) { return nil }
            append(record, id: id, type: type, rawLength: raw.count)
            return pending.bytes.count >= options.packSize
        }
        if full == true { try sync() }
        return id
    }

    /// Adds a record to the pending pack. Caller holds `lock`.
    private func append(_ record: [UInt8], id: ChunkID, type: RecordType, rawLength: Int) {
        if pending.bytes.isEmpty {
            // One allocation for the whole pack: growing by doubling would leave up to a pack's
            // size of slack in every pack held while it uploads.
            pending.bytes.reserveCapacity(options.packSize + max(record.count, 1 << 20))
            pending.bytes.append(contentsOf: PackChunkStore.packMagic)
        }
        pending.byID[id] = pending.entries.count
        pending.entries.append(PackIndex.Entry(id: id, offset: pending.bytes.count, size: record.count, rawLength: rawLength, type: type))
        pending.bytes += record
    }

    public func contains(_ id: ChunkID) -> Bool {
        lock.withLock {
            let indexed = index[id].map { !(epochPacks?.contains($0.pack) ?? false) } ?? false
            let found = indexed || pending.byID[id] != nil || uploading.contains(where: { $0.byID[id] != nil })
            if found { epoch?.insert(id) }
            return found
        }
    }

    /// Uploads the pending pack, then its index. Concurrent callers queue behind one upload; a
    /// caller whose records another caller's upload took finds nothing left and returns once that
    /// upload is done.
    public func sync() throws(AFSError) {
        flushing.lock()
        defer { flushing.unlock() }
        let batch = lock.withLock { () -> Pending? in
            guard !pending.entries.isEmpty else { return nil }
            var b = pending
            serials += 1
            b.serial = serials
            pending = Pending()
            uploading.append(b)
            return b
        }
        guard let batch else { return }
        let name = SigV4Signer.payloadHash(batch.bytes)  // hex SHA-256: the pack is named by its content
        lock.withLock {
            if let i = uploading.firstIndex(where: { $0.serial == batch.serial }) { uploading[i].name = name }
        }
        let packIndex = PackIndex(entries: batch.entries)
        do {
            try client.put(PackChunkStore.packKey(name), batch.bytes)
            try client.put(PackChunkStore.indexKey(name), packIndex.encoded)
        } catch {
            // Put the records back in front of what came since, so the next sync retries them.
            lock.withLock {
                uploading.removeAll { $0.serial == batch.serial }
                let newer = pending
                pending = batch
                for e in newer.entries where pending.byID[e.id] == nil {
                    append(Array(newer.bytes[e.offset..<(e.offset + e.size)]), id: e.id, type: e.type, rawLength: e.rawLength)
                }
            }
            throw error
        }
        lock.withLock {
            packs[name] = (batch.bytes.count, packIndex)
            for e in batch.entries {
                index[e.id] = Location(pack: name, entry: e)
            }
            uploading.removeAll { $0.serial == batch.serial }
        }
    }

    // MARK: Reading

    public func get(_ id: ChunkID) throws(AFSError) -> [UInt8] {
        switch try read(id) {
        case .found(let bytes): return bytes
        case .unknown:
            // Not among the packs this store knows: another process sharing the prefix (a replica)
            // may have written it since this one opened.
            if try discoverPacks(), case .found(let bytes) = try read(id) { return bytes }
            throw AFSError(.notFound, "chunk \(id.hex) is not in the store")
        case .packGone(let name):
            // Deleted by a collection in another replica, which copied the record elsewhere if it was live.
            try discoverPacks(forgetMissing: true)
            if case .found(let bytes) = try read(id) { return bytes }
            let key = PackChunkStore.packKey(name)
            throw AFSError(.corrupted, "chunk \(id.hex) is lost: its pack s3://\(client.location.bucket)/\(client.location.prefix)\(key) is gone and no other pack holds it; restore the object from a backup")
        }
    }

    enum ReadOutcome {
        case found([UInt8])
        /// No known pack holds the record.
        case unknown
        /// The pack the index names is no longer in the bucket.
        case packGone(String)
    }

    /// The record's bytes, or why not.
    private func read(_ id: ChunkID) throws(AFSError) -> ReadOutcome {
        enum Source { case memory([UInt8]), pack(Location) }
        let source = lock.withLock { () -> Source? in
            for p in [pending] + uploading {
                if let i = p.byID[id] {
                    let e = p.entries[i]
                    return .memory(Array(p.bytes[e.offset..<(e.offset + e.size)]))
                }
            }
            return index[id].map { .pack($0) }
        }
        switch source {
        case nil:
            return .unknown
        case .memory(let record)?:
            return .found(try decode(record, id: id, whereabouts: "the pack being written"))
        case .pack(let loc)?:
            if let cached = cache?.get(id) { return .found(cached) }
            let key = PackChunkStore.packKey(loc.pack)
            // Records of one file are written one after another into the same pack: with a cache,
            // one GET brings the records that follow too (a sequential read costs a request per
            // `readAhead` bytes, not per chunk).
            let window = cache == nil ? [] : lock.withLock { followers(of: loc) }
            let end = window.last.map { $0.offset + $0.size } ?? loc.entry.offset + loc.entry.size
            let fetched: [UInt8]
            do {
                fetched = try client.get(key, range: Int64(loc.entry.offset)..<Int64(end))
            } catch where error.code == .notFound {
                return .packGone(loc.pack)
            }
            guard fetched.count >= loc.entry.size else {
                throw AFSError(.corrupted, "chunk \(id.hex) in s3://\(client.location.bucket)/\(client.location.prefix)\(key) is cut short; restore the object from a backup")
            }
            let raw = try decode(Array(fetched[0..<loc.entry.size]), id: id, whereabouts: "s3://\(client.location.bucket)/\(client.location.prefix)\(key) at offset \(loc.entry.offset)")
            cache?.put(id, raw)
            for e in window where e.id != id && e.offset + e.size - loc.entry.offset <= fetched.count {
                let start = e.offset - loc.entry.offset
                // A damaged neighbour is simply not cached; its own read reports it.
                if case .success(let r) = ChunkRecord.decode(Array(fetched[start..<(start + e.size)]), expected: e.id) { cache?.put(e.id, r.raw) }
            }
            return .found(raw)
        }
    }

    /// The record at `loc` and those right after it in its pack, up to ``Options/readAhead``
    /// bytes. Caller holds `lock`.
    private func followers(of loc: Location) -> [PackIndex.Entry] {
        guard let entries = packs[loc.pack]?.index.entries else { return [] }
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].offset < loc.entry.offset { lo = mid + 1 } else { hi = mid }
        }
        var out: [PackIndex.Entry] = []
        var total = 0
        var i = lo
        while i < entries.count, total + entries[i].size <= max(options.readAhead, loc.entry.size) {
            out.append(entries[i])
            total += entries[i].size
            i += 1
        }
        return out
    }

    private func decode(_ record: [UInt8], id: ChunkID, whereabouts: String) throws(AFSError) -> [UInt8] {
        switch ChunkRecord.decode(record, expected: id) {
        case .success(let r): return r.raw
        case .failure(let why):
            throw AFSError(.corrupted, "chunk \(id.hex) in \(whereabouts) is damaged (\(why)); nothing was served from it — restore the object from a backup")
        }
    }

    // MARK: Garbage collection

    public func beginGCEpoch() {
        // What the bucket holds now is what the collection may delete; a listing that fails
        // leaves only the packs known here in that set, which is safe (unknown packs are kept).
        _ = try? discoverPacks()
        lock.withLock {
            epoch = []
            epochPacks = Set(packs.keys)
        }
    }

    public func endGCEpoch() {
        // Forget the packs the collection deleted before trusting the index for deduplication
        // again: a record of one of them must be written anew, never assumed present.
        let refreshed = (try? discoverPacks(forgetMissing: true)) != nil
        lock.withLock {
            epoch = nil
            // Without a listing, old packs stay excluded from deduplication until the next one.
            if refreshed { epochPacks = nil }
        }
    }

    /// Deletes packs without live records and repacks those whose live share is below the
    /// threshold. Index objects go before their packs (a crash between leaves an unindexed pack,
    /// which holds nothing anyone refers to).
    public func sweep(live: Set<ChunkID>, liveRatioThreshold: Double) throws(AFSError) -> ChunkSweepReport {
        try sync()
        try discoverPacks()
        // Only packs that existed when the collection began: a newer one may hold records whose
        // references (from another replica) the mark has not seen yet.
        let snapshot = lock.withLock { packs.filter { epochPacks?.contains($0.key) ?? true } }
        var report = ChunkSweepReport()
        for (name, pack) in snapshot.sorted(by: { $0.key < $1.key }) {
            let epochNow = lock.withLock { epoch ?? [] }
            var liveEntries: [PackIndex.Entry] = []
            var deadBytes = 0, liveBytes = 0
            for e in pack.index.entries {
                // Only records this pack is the home of count; a copy elsewhere answers for the rest.
                let home = lock.withLock { index[e.id]?.pack == name }
                if live.contains(e.id) || epochNow.contains(e.id) {
                    if home { liveEntries.append(e) }
                    liveBytes += e.size
                } else {
                    deadBytes += e.size
                    report.deadRecords += 1
                }
            }
            guard deadBytes > 0 else { continue }
            let total = deadBytes + liveBytes
            guard liveEntries.isEmpty || Double(liveBytes) / Double(total) < liveRatioThreshold else { continue }
            // Copy the live records into the pending pack (bypassing deduplication: they are
            // indexed here), upload it, and only then let the old pack go.
            for e in liveEntries {
                let raw = try get(e.id)
                lock.withLock {
                    if pending.byID[e.id] == nil { append(ChunkRecord.encode(e.type, id: e.id, raw), id: e.id, type: e.type, rawLength: e.rawLength) }
                }
            }
            try sync()
            // A record found or put since the snapshot keeps the pack (the next collection retries).
            let dropped = lock.withLock { () -> Bool in
                let epochLate = epoch ?? []
                if pack.index.entries.contains(where: { epochLate.contains($0.id) && index[$0.id]?.pack == name }) { return false }
                var homeless: Set<ChunkID> = []
                for e in pack.index.entries where index[e.id]?.pack == name {
                    index[e.id] = nil
                    homeless.insert(e.id)
                }
                packs[name] = nil
                rehome(homeless)
                return true
            }
            guard dropped else { continue }
            try client.delete(PackChunkStore.indexKey(name))
            try client.delete(PackChunkStore.packKey(name))
            report.unitsCleaned += 1
            report.recordsRelocated += liveEntries.count
            report.bytesFreed += Int64(pack.size)
        }
        try sweepOrphanPacks(&report)
        return report
    }

    /// Deletes packs that have no index: an upload cut off between its pack and its index (a
    /// crash, a failed index write whose records went into a later pack). Nothing refers to
    /// them, since a record is indexed only once its index is written. Only packs older than
    /// ``Options/orphanAge`` go, and never one this store is uploading, so an upload in flight
    /// (whose index is about to follow) is never taken.
    private func sweepOrphanPacks(_ report: inout ChunkSweepReport) throws(AFSError) {
        let objects = try client.list(prefix: PackChunkStore.packPrefix)
        let indexed = Set(objects.filter { $0.key.hasSuffix(".idx") }.map { $0.key.dropLast(4) })
        let cutoff = Date().addingTimeInterval(-options.orphanAge)
        for object in objects where object.key.hasSuffix(".pack") && !indexed.contains(object.key.dropLast(5)) {
            let name = String(object.key.dropFirst(PackChunkStore.packPrefix.count).dropLast(5))
            guard let written = object.lastModified, written < cutoff else { continue }
            // An upload not yet named could be this very pack again: wait for the next collection.
            let busy = lock.withLock { packs[name] != nil || uploading.contains { $0.name == nil || $0.name == name } }
            if busy { continue }
            try client.delete(object.key)
            report.unitsCleaned += 1
            report.bytesFreed += object.size
        }
    }

    public func storedSizes() -> [ChunkID: Int] {
        lock.withLock { index.mapValues(\.entry.size) }
    }

    public func usage() -> ChunkStoreUsage {
        lock.withLock {
            var raw: Int64 = 0, stored: Int64 = 0
            for loc in index.values {
                raw += Int64(loc.entry.rawLength)
                stored += Int64(loc.entry.size)
            }
            // Records not yet uploaded count too (as the segment log counts unsynced appends).
            var records = index.count
            for p in [pending] + uploading {
                for e in p.entries where index[e.id] == nil {
                    records += 1
                    raw += Int64(e.rawLength)
                    stored += Int64(e.size)
                }
            }
            return ChunkStoreUsage(records: records, rawBytes: raw, storedBytes: stored, units: packs.count, unitBytes: packs.values.reduce(0) { $0 + Int64($1.size) })
        }
    }

    /// Downloads every pack and checks every record against the index.
    public func verifyRecords() throws(AFSError) -> ChunkVerification {
        // Every pack in the bucket, those other replicas wrote included; none the index still
        // names after a collection elsewhere deleted it.
        try discoverPacks(forgetMissing: true)
        var report = ChunkVerification()
        let (snapshot, current) = lock.withLock { (packs, index) }
        // IDs and packs already named in a problem, so the index check below does not repeat them.
        var reported: Set<ChunkID> = []
        var unreadable: Set<String> = []
        for (name, pack) in snapshot.sorted(by: { $0.key < $1.key }) {
            let key = PackChunkStore.packKey(name)
            let bytes: [UInt8]
            do {
                bytes = try client.get(key)
            } catch {
                report.problems.append("\(key): \(error.message)")
                unreadable.insert(name)
                continue
            }
            if Array(bytes.prefix(8)) != PackChunkStore.packMagic { report.problems.append("\(key): not a pack (bad magic)") }
            for e in pack.index.entries {
                guard e.offset + e.size <= bytes.count else {
                    report.problems.append("\(key) offset \(e.offset): record of \(e.id.hex) lies past the end of the pack")
                    reported.insert(e.id)
                    continue
                }
                report.recordsChecked += 1
                report.bytesChecked += Int64(e.size)
                switch ChunkRecord.decode(Array(bytes[e.offset..<(e.offset + e.size)]), expected: e.id) {
                case .success: if current[e.id]?.pack == name { report.intact.insert(e.id) }
                case .failure(let why):
                    report.problems.append("\(key) offset \(e.offset): \(e.id.hex) is damaged (\(why))")
                    reported.insert(e.id)
                }
            }
        }
        for (id, loc) in current where !report.intact.contains(id) && !reported.contains(id) && !unreadable.contains(loc.pack) {
            report.problems.append("index entry \(id.hex) points to \(PackChunkStore.packKey(loc.pack)) offset \(loc.entry.offset), where no valid record is")
        }
        return report
    }

    public func close() throws(AFSError) {
        try sync()
    }
}

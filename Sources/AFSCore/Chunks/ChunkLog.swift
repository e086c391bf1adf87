import Foundation
import Synchronization

/// The append-only, content-addressed chunk log: numbered, preallocated segment files holding
/// checksummed records, with an index from chunk ID to location kept on disk (``ChunkIndex``).
///
/// Writers hash and compress on their own thread and append under a short lock; durability comes
/// from `sync()`, a group commit shared by all concurrent writers. On open the index file is
/// opened (not read) and the log after the position it covers is scanned; the changes since are
/// held in memory and merged into a new index file in the background once they pass
/// `Options.indexMemoryEntries`. A torn tail is truncated, and a bad
/// record followed by good ones is reported as corruption naming the segment and offset, unless
/// the records' sync epochs show that none of it can have been durable (a power cut that kept some
/// unsynced blocks and lost earlier ones): then that tail is truncated too.
///
/// Why the epochs prove it: every record carries the number of syncs that had completed when it
/// was appended (under the lock that orders appends). Syncs run one at a time, so a record
/// appended at epoch `e` precedes the start of sync `e + 2`, which makes it (and everything
/// before it) durable; a record of epoch `e + 2` or later exists only after that. A record that
/// was not durable at a power cut can therefore only be followed by records of its own epoch or
/// the next. A damaged record followed by records two epochs apart was durable: that is damage.
final class ChunkLog: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; segment files are immutable handles whose
    // positional I/O is safe to share.

    struct Options: Sendable {
        var segmentSize: Int64 = 64 << 20
        /// Merge the index after this many appended bytes, so reopening scans little.
        var checkpointEvery: Int64 = 256 << 20
        /// On close, merge only when at least this much was appended since the last merge (or a
        /// quarter of `indexMemoryEntries` changed): a short CLI call should not rewrite the whole
        /// index, and a small tail scans in milliseconds.
        var checkpointOnCloseAfter: Int64 = 8 << 20
        /// Index changes held in memory before they are merged into the index file (about 80
        /// bytes each): what bounds the index's memory whatever the store's size.
        var indexMemoryEntries = 32_768
    }

    let directory: String
    let options: Options
    private let lock = NSLock()
    private var index = ChunkIndex(base: nil)
    /// Held by the one merge that may run at a time.
    private let mergeLock = NSLock()
    private var mergeScheduled = false
    /// Set by `close`: no background merge starts after it.
    private var closing = false
    private var segments: [UInt32: POSIXFile] = [:]
    /// Segments replaced by GC: unlinked, kept open until close so in-flight readers finish.
    private var retired: [POSIXFile] = []
    private var headSegment: UInt32 = 0
    private var headOffset: Int64 = 0
    private var dirtySegments: Set<UInt32> = []
    private var appendedSinceCheckpoint: Int64 = 0
    private let committer = GroupCommit()
    /// While GC runs, every ID written or deduplicated is recorded here and kept (allocate-black).
    private var gcEpoch: Set<ChunkID>?
    /// Syncs completed (modulo 2^16), stamped on every record appended: changed and read at
    /// append under `lock`; read without it only to stamp a record early (re-stamped if stale).
    private let syncEpoch = Atomic<UInt16>(0)
    /// What recovery dropped at open as a power cut's unsynced tail, if anything.
    private(set) var recoveredTail: RecoveredTail?
    /// What opening repaired or upgraded (a missing or damaged index rebuilt, a format-1 index
    /// upgraded), one sentence each, for the owner to report.
    private(set) var recoveryNotes: [String] = []

    /// An unsynced tail dropped at open: the torn or lost record at `offset` of `segment`, and
    /// the complete records after it that had reached the disk out of order.
    struct RecoveredTail: Sendable, Equatable {
        var segment: UInt32
        var offset: Int64
        var recordsDropped: Int
    }

    static let segmentHeaderSize: Int64 = 64
    static let segmentMagic: [UInt8] = Array("AFSSEG01".utf8)

    private init(directory: String, options: Options) {
        self.directory = directory
        self.options = options
    }

    // MARK: Opening

    /// Opens (or creates) the log in `directory`, recovering the index.
    static func open(directory: String, options: Options = Options()) throws(AFSError) -> ChunkLog {
        let log = ChunkLog(directory: directory, options: options)
        try log.recover()
        return log
    }

    func segmentPath(_ n: UInt32) -> String {
        directory + "/" + String(format: "seg-%08u.afs", n)
    }

    private var checkpointPath: String { directory + "/index.ckpt" }

    private func listSegmentNumbers() throws(AFSError) -> [UInt32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw AFSError(.io, "cannot list segments in \(directory)")
        }
        return names.compactMap { name -> UInt32? in
            guard name.hasPrefix("seg-"), name.hasSuffix(".afs") else { return nil }
            return UInt32(name.dropFirst(4).dropLast(4))
        }.sorted()
    }

    private func recover() throws(AFSError) {
        var numbers = try listSegmentNumbers()
        var scanFrom: (segment: UInt32, offset: Int64)?
        // A merge killed before its rename leaves its temporary file: never used, removed.
        unlink(checkpointPath + ".tmp")
        // Whether the index must be written before the log is used (rebuilt or upgraded).
        var persist = false
        switch try ChunkIndexFile.open(path: checkpointPath) {
        case .absent:
            if !numbers.isEmpty {
                recoveryNotes.append("the chunk index \(checkpointPath) is missing: rebuilt it from the log")
                persist = true
            }
        case .damaged(let why):
            recoveryNotes.append("the chunk index \(checkpointPath) is unusable (\(why)): rebuilt it from the log")
            persist = true
        case .legacy(let ckpt):
            persist = true
            if numbers.contains(ckpt.segment) {
                for (id, loc) in ckpt.entries { try index.set(id, loc) }
                scanFrom = (ckpt.segment, ckpt.offset)
                recoveryNotes.append("upgraded the chunk index \(checkpointPath) from format 1 to format 2")
            } else {
                recoveryNotes.append("the format-1 chunk index \(checkpointPath) names a missing segment: rebuilt it from the log")
            }
        case .index(let file):
            if numbers.contains(file.segment) {
                index = ChunkIndex(base: file)
                scanFrom = (file.segment, file.offset)
            } else {
                recoveryNotes.append("the chunk index \(checkpointPath) covers segment \(file.segment), which is missing: rebuilt it from the log")
                persist = true
            }
        }
        // Segments wholly before the checkpoint that no entry points into are leftovers of a GC
        // that crashed between writing its checkpoint and unlinking: remove them.
        if let from = scanFrom {
            let referenced = Set(index.segmentCounts.keys)
            for n in numbers where n < from.segment && !referenced.contains(n) {
                unlink(segmentPath(n))
            }
            numbers = numbers.filter { $0 >= from.segment || referenced.contains($0) }
        }
        // The newest segment without a valid header is one whose creation a power cut interrupted:
        // its header is synced before any record goes into it, so it holds nothing. Remove it.
        if let last = numbers.last, last != scanFrom?.segment, index.segmentCounts[last] == nil,
            try !segmentHeaderIsValid(segmentPath(last))
        {
            unlink(segmentPath(last))
            try POSIXFile.syncDirectory(directory)
            numbers.removeLast()
        }
        for n in numbers {
            segments[n] = try POSIXFile.open(segmentPath(n), flags: O_RDWR)
        }
        if numbers.isEmpty {
            try startSegment(1)
            try mergeIndex()
            return
        }
        let toScan = numbers.filter { n in scanFrom.map { n >= $0.segment } ?? true }
        for (i, n) in toScan.enumerated() {
            let start = (scanFrom?.segment == n) ? scanFrom!.offset : ChunkLog.segmentHeaderSize
            let end = try scanSegment(n, from: start, isLast: i == toScan.count - 1)
            appendedSinceCheckpoint += end - start
            headSegment = n
            headOffset = end
        }
        if toScan.isEmpty, let last = numbers.last {
            headSegment = last
            headOffset = try scanSegment(last, from: ChunkLog.segmentHeaderSize, isLast: true)
        }
        // What was read may never have been synced (the last process was killed, its pages not
        // yet written): make it durable before records of a later epoch can vouch for it, and
        // start two epochs past it; then mark all of it synced, and make the mark durable too.
        if let head = segments[headSegment] {
            try head.syncData()
            try markSynced(head, through: headOffset)
            try head.syncData()
        }
        syncEpoch.store(lastEpochSeen &+ 2, ordering: .relaxed)
        // A rebuilt or upgraded index is written at once (a rebuild holds the whole index in
        // memory until then, as format 1 did at every open).
        if persist || index.pendingCount >= options.indexMemoryEntries { try mergeIndex() }
    }

    /// Writes into `file`'s header that everything before `offset` is durable, once it is: a bad
    /// record found below it at the next open is damage, whatever follows it. Not synced here
    /// (the next sync of the segment carries it); a header written but lost only proves less.
    private func markSynced(_ file: POSIXFile, through offset: Int64) throws(AFSError) {
        var header = try file.read(count: Int(ChunkLog.segmentHeaderSize), at: 0)
        guard header.count == Int(ChunkLog.segmentHeaderSize) else { return }
        header.withUnsafeMutableBytes { b in
            b.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: 24, as: UInt64.self)
            let seal = ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: b[0..<56]))
            b.storeBytes(of: seal.littleEndian, toByteOffset: 56, as: UInt64.self)
        }
        try file.write(header, at: 0)
    }

    /// The sync epoch of the last record recovery read.
    private var lastEpochSeen: UInt16 = 0

    private func segmentHeaderIsValid(_ path: String) throws(AFSError) -> Bool {
        let file = try POSIXFile.open(path, flags: O_RDONLY)
        return ChunkLog.headerIsValid(try file.read(count: Int(ChunkLog.segmentHeaderSize), at: 0))
    }

    static func headerIsValid(_ header: [UInt8]) -> Bool {
        header.count == Int(segmentHeaderSize) && Array(header[0..<8]) == segmentMagic
            && header.withUnsafeBytes {
                ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<56])) == UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
            }
    }

    /// Reads records from `start` until the end marker, adding them to the index. Returns the end offset.
    private func scanSegment(_ n: UInt32, from start: Int64, isLast: Bool) throws(AFSError) -> Int64 {
        guard let file = segments[n] else { throw AFSError.corrupted("segment \(n) is missing") }
        let size = try file.size()
        let header = try file.read(count: Int(ChunkLog.segmentHeaderSize), at: 0)
        guard ChunkLog.headerIsValid(header) else {
            throw AFSError.corrupted("segment \(segmentPath(n)) has no valid header; the store is damaged (run `aether store verify`)")
        }
        let version = header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        guard version == 1 else {
            throw AFSError(.unsupportedFormat, "segment \(segmentPath(n)) has format version \(version); this build reads version 1")
        }
        let synced = header.withUnsafeBytes { Int64(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self))) }
        var reader = SegmentReader(file: file, size: size)
        var offset = start
        while offset + Int64(RecordCodec.headerSize) <= size {
            switch try reader.record(at: offset) {
            case .end:
                return offset
            case .record(let h, let total):
                if let epoch = h.syncEpoch { lastEpochSeen = epoch }
                try index.set(
                    h.id,
                    ChunkLocation(
                        segment: n, offset: UInt32(offset), storedLength: UInt32(h.storedLength),
                        rawLength: UInt32(h.rawLength), type: h.type))
                offset += Int64(total)
            case .bad(let why):
                // The last segment's unsynced tail: nothing valid follows (torn), or what follows
                // cannot have been durable either (``ChunkLog``). A segment is synced whole before
                // the next one starts, so damage anywhere else is damage.
                let after = isLast && offset >= synced ? try reader.validRecords(after: offset) : []
                if isLast, offset >= synced, ChunkLog.unsyncedTail(after) {
                    try zeroTail(file: file, from: offset, size: size)
                    if !after.isEmpty { recoveredTail = RecoveredTail(segment: n, offset: offset, recordsDropped: after.count) }
                    return offset
                }
                let proof = offset < synced ? "the segment was synced through offset \(synced)" : "valid records written after it was durable follow it"
                throw AFSError.corrupted(
                    "chunk log record at segment \(n) offset \(offset) is damaged (\(why)) and \(proof); "
                        + "acknowledged data may be lost. Run `aether store verify` for a full report.")
            }
        }
        return offset
    }

    /// Whether the valid records found after a bad one can all belong to an unsynced tail: none,
    /// or all stamped with an epoch no more than one past the first's (modulo 2^16). A record
    /// without an epoch (written by an earlier build) proves nothing, so it counts as durable.
    static func unsyncedTail(_ after: [RecordCodec.Header]) -> Bool {
        guard let first = after.first else { return true }
        guard let base = first.syncEpoch else { return false }
        return after.allSatisfy { h in
            guard let e = h.syncEpoch else { return false }
            let ahead = e &- base
            return ahead < 2 || ahead >= 0x8000
        }
    }

    private func zeroTail(file: POSIXFile, from offset: Int64, size: Int64) throws(AFSError) {
        try file.truncate(to: offset)
        try file.preallocate(length: max(size, options.segmentSize))
        try file.syncData()
    }

    private func startSegment(_ n: UInt32) throws(AFSError) {
        // The head is synced whole before records go to the next segment, so a power cut leaves
        // an unsynced tail in the last segment only (recovery relies on it).
        if let head = segments[headSegment], dirtySegments.contains(headSegment) {
            try head.syncData()
            dirtySegments.remove(headSegment)
        }
        let path = segmentPath(n)
        let file = try POSIXFile.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
        try file.preallocate(length: options.segmentSize)
        var w = BinaryWriter(capacity: 64)
        w.raw(ChunkLog.segmentMagic)
        w.u32(1)  // format version
        w.u32(n)
        w.u64(UInt64(Date().timeIntervalSince1970))
        while w.bytes.count < 56 { w.u8(0) }
        w.u64(ContentHash.xxh3(w.bytes))
        try file.write(w.bytes, at: 0)
        try file.sync()
        try POSIXFile.syncDirectory(directory)
        segments[n] = file
        headSegment = n
        headOffset = ChunkLog.segmentHeaderSize
    }

    // MARK: Writing

    /// Whether a chunk is stored (durably or pending the next sync). An index that cannot be
    /// read answers false: the writer then appends, whose own lookup reports the damage.
    func contains(_ id: ChunkID) -> Bool {
        (try? resolve(id) { found in
            // Found and kept alive in one step under the lock: GC cannot drop it in between.
            if found != nil { gcEpoch?.insert(id) }
            return found != nil
        }) ?? false
    }

    /// Looks `id` up and calls `body` with the answer under the lock. The index file is read
    /// outside the lock (readers do not queue behind each other's I/O), then the answer is taken
    /// only if the file is still the index's base and memory learnt nothing newer meanwhile.
    private func resolve<T>(_ id: ChunkID, _ body: (ChunkLocation?) -> T) throws(AFSError) -> T {
        var answered: (file: ChunkIndexFile, location: ChunkLocation?)?
        while true {
            lock.lock()
            switch index.probe(id) {
            case .known(let location):
                defer { lock.unlock() }
                return body(location)
            case .ask(let file):
                if let answered, answered.file === file {
                    defer { lock.unlock() }
                    index.remember(id, answered.location, from: file)
                    return body(answered.location)
                }
                lock.unlock()
                answered = (file, try file.lookup(id))
            }
        }
    }

    /// Stores `raw` under its SHA-256 and returns the ID. Not durable until `sync()`.
    @discardableResult
    func put(_ type: RecordType, _ raw: UnsafeRawBufferPointer) throws(AFSError) -> ChunkID {
        let id = ContentHash.sha256(raw)
        try put(type, raw, id: id)
        return id
    }

    /// Stores bytes whose ID the caller already computed.
    func put(_ type: RecordType, _ raw: UnsafeRawBufferPointer, id: ChunkID) throws(AFSError) {
        guard raw.count <= RecordCodec.maxPayload else {
            throw AFSError.invalidArgument("a record of \(raw.count) bytes exceeds the \(RecordCodec.maxPayload)-byte limit")
        }
        if contains(id) { return }
        let record = RecordCodec.encode(type: type, id: id, raw: raw, syncEpoch: syncEpoch.load(ordering: .relaxed))
        try append(record: record, id: id, type: type, rawLength: raw.count)
    }

    private func append(record: [UInt8], id: ChunkID, type: RecordType, rawLength: Int) throws(AFSError) {
        var record = record
        lock.lock()
        defer { lock.unlock() }
        if try index.lookup(id) != nil { return }
        stamp(&record)
        if headOffset + Int64(record.count) > options.segmentSize {
            try startSegment(headSegment + 1)
        }
        let offset = headOffset
        try segments[headSegment]!.write(record, at: offset)
        headOffset += Int64(record.count)
        appendedSinceCheckpoint += Int64(record.count)
        dirtySegments.insert(headSegment)
        let stored = record.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))) }
        try index.set(
            id,
            ChunkLocation(
                segment: headSegment, offset: UInt32(offset), storedLength: UInt32(stored),
                rawLength: UInt32(rawLength), type: type))
        gcEpoch?.insert(id)
        _ = committer.noteAppended()
    }

    /// Gives `record` the current sync epoch, if it was sealed with another. Caller holds `lock`.
    private func stamp(_ record: inout [UInt8]) {
        let epoch = syncEpoch.load(ordering: .relaxed)
        if RecordCodec.syncEpoch(of: record) != epoch { RecordCodec.restamp(&record, syncEpoch: epoch) }
    }

    /// The group commit's one sync: every segment written since the last one, then the next
    /// epoch for records appended from now on, then the head's synced mark (carried to disk by
    /// the next sync). Run by one leader at a time (``GroupCommit``).
    private func syncDirtySegments() throws(AFSError) {
        lock.lock()
        let dirty = dirtySegments
        dirtySegments.removeAll()
        let files = dirty.compactMap { segments[$0] }
        let head = dirty.contains(headSegment) ? segments[headSegment].map { ($0, headOffset) } : nil
        lock.unlock()
        for file in files { try file.syncData() }
        lock.lock()
        syncEpoch.wrappingAdd(1, ordering: .relaxed)
        lock.unlock()
        if let (file, offset) = head { try markSynced(file, through: offset) }
    }

    /// Makes every record appended so far durable. Concurrent callers share one `fdatasync`.
    func sync() throws(AFSError) {
        let ticket = committer.latest
        try committer.waitDurable(ticket) { () throws(AFSError) in try syncDirtySegments() }
        lock.lock()
        let due = appendedSinceCheckpoint >= options.checkpointEvery || index.pendingCount >= options.indexMemoryEntries
        let overdue = index.pendingCount >= 4 * options.indexMemoryEntries
        lock.unlock()
        if overdue {
            // Writers outran the background merge: wait for it, so memory stays bounded.
            mergeLock.lock()
            mergeLock.unlock()
        }
        if due { scheduleMerge() }
    }

    var syncCount: UInt64 { committer.syncCount }

    /// Starts a merge on a thread of its own unless one is already scheduled.
    private func scheduleMerge() {
        lock.lock()
        guard !mergeScheduled, !closing else {
            lock.unlock()
            return
        }
        mergeScheduled = true
        lock.unlock()
        Thread.detachNewThread { [self] in
            mergeLock.lock()
            defer { mergeLock.unlock() }
            lock.lock()
            mergeScheduled = false
            let skip = closing
            lock.unlock()
            guard !skip else { return }
            do {
                try mergeLocked()
            } catch {
                // The changes stay in memory (``ChunkIndex/thaw()``) and the next sync retries.
                FileHandle.standardError.write(Data("aetherfs: merging the chunk index failed, will retry: \(error)\n".utf8))
            }
        }
    }

    /// Folds the index changes held in memory into a new index file, so memory holds few and the
    /// next open scans only what follows.
    func mergeIndex() throws(AFSError) {
        mergeLock.lock()
        defer { mergeLock.unlock() }
        try mergeLocked()
    }

    /// The merge; the caller holds `mergeLock`.
    private func mergeLocked() throws(AFSError) {
        lock.lock()
        let (base, changes) = index.freeze()
        let position = (headSegment, headOffset)
        let expected = index.count
        let appended = appendedSinceCheckpoint
        appendedSinceCheckpoint = 0
        lock.unlock()
        do {
            // Everything the new file claims must be durable before it is in place.
            let ticket = committer.latest
            try committer.waitDurable(ticket) { () throws(AFSError) in try syncDirtySegments() }
            let writer = try ChunkIndexFile.Writer(path: checkpointPath, expectedCount: expected, segment: position.0, offset: position.1)
            try ChunkIndex.forEach(base: base, changes: changes) { (id, loc) throws(AFSError) in try writer.append(id, loc) }
            let file = try writer.finish()
            lock.lock()
            index.install(file)
            lock.unlock()
        } catch {
            lock.lock()
            index.thaw()
            appendedSinceCheckpoint += appended
            lock.unlock()
            throw error
        }
    }

    // MARK: Reading

    func location(of id: ChunkID) throws(AFSError) -> ChunkLocation? {
        try resolve(id) { $0 }
    }

    private func file(for segment: UInt32) -> POSIXFile? {
        lock.lock()
        defer { lock.unlock() }
        return segments[segment]
    }

    /// The raw bytes of a chunk, checked against the record checksum. Damage is an error naming
    /// the segment and offset; it is never returned as data.
    func get(_ id: ChunkID) throws(AFSError) -> [UInt8] {
        guard let loc = try location(of: id) else {
            throw AFSError.notFound("chunk \(id.hex) is not in the store")
        }
        return try read(id: id, at: loc, verifyIdentity: false)
    }

    func read(id: ChunkID, at loc: ChunkLocation, verifyIdentity: Bool) throws(AFSError) -> [UInt8] {
        guard let file = file(for: loc.segment) else {
            throw AFSError.corrupted("chunk \(id.hex) points to missing segment \(loc.segment)")
        }
        let record = try file.read(count: loc.recordSize, at: Int64(loc.offset))
        let where_ = "segment \(loc.segment) (\(segmentPath(loc.segment))) offset \(loc.offset)"
        return try record.withBytes { (buf) throws(AFSError) -> [UInt8] in
            guard buf.count == loc.recordSize, case .header(let h) = RecordCodec.decodeHeader(buf),
                h.id == id, h.storedLength == Int(loc.storedLength)
            else {
                throw AFSError.corrupted("chunk \(id.hex): record header damaged at \(where_)")
            }
            guard RecordCodec.checksumMatches(buf, storedLength: h.storedLength) else {
                throw AFSError.corrupted("chunk \(id.hex): checksum mismatch at \(where_)")
            }
            guard let payload = RecordCodec.payload(buf, header: h) else {
                throw AFSError.corrupted("chunk \(id.hex): payload does not decode at \(where_)")
            }
            if verifyIdentity, ContentHash.sha256(payload) != id {
                throw AFSError.corrupted("chunk \(id.hex): content does not match its id at \(where_)")
            }
            return payload
        }
    }

    // MARK: Statistics and maintenance

    struct Totals: Sendable {
        var chunks: Int
        var rawBytes: Int64
        var storedBytes: Int64
        var segmentCount: Int
        var segmentBytes: Int64
    }

    func totals() -> Totals {
        lock.lock()
        defer { lock.unlock() }
        let used = Int64(segments.count - 1) * options.segmentSize + headOffset
        return Totals(
            chunks: index.count, rawBytes: index.rawBytes, storedBytes: index.storedBytes, segmentCount: segments.count, segmentBytes: used)
    }

    /// A copy of the whole index, for GC and verification (the only callers that need it all):
    /// read from the index file and the changes over it, outside the lock.
    func indexSnapshot() throws(AFSError) -> [ChunkID: ChunkLocation] {
        lock.lock()
        let (base, changes) = index.passSources()
        let count = index.count
        lock.unlock()
        var out = [ChunkID: ChunkLocation](minimumCapacity: count)
        try ChunkIndex.forEach(base: base, changes: changes) { (id, loc) throws(AFSError) in out[id] = loc }
        return out
    }

    /// Checks every bucket of the index file (what a lookup checks one bucket at a time).
    func verifyIndexFile() -> [String] {
        lock.lock()
        let base = index.base
        lock.unlock()
        do {
            var n = 0
            try base?.forEach { (_, _) throws(AFSError) in n += 1 }
            if let base, n != base.count { return ["the chunk index \(base.path) holds \(n) entries where its header says \(base.count)"] }
            return []
        } catch {
            return [error.message]
        }
    }

    /// Index changes held in memory (not yet merged into the index file).
    var pendingIndexEntries: Int {
        lock.lock()
        defer { lock.unlock() }
        return index.pendingCount
    }

    var head: (segment: UInt32, offset: Int64) {
        lock.lock()
        defer { lock.unlock() }
        return (headSegment, headOffset)
    }

    func segmentNumbers() -> [UInt32] {
        lock.lock()
        defer { lock.unlock() }
        return segments.keys.sorted()
    }

    func beginGCEpoch() {
        lock.lock()
        gcEpoch = []
        lock.unlock()
    }

    /// Ends the epoch.
    func endGCEpoch() {
        lock.lock()
        defer { lock.unlock() }
        gcEpoch = nil
    }

    /// IDs written or deduplicated since the epoch began (live by definition).
    func epochIDs() -> Set<ChunkID> {
        lock.lock()
        defer { lock.unlock() }
        return gcEpoch ?? []
    }

    /// Copies a live record of a segment being cleaned to the head of the log. The index points at
    /// the copy at once; the old segment is only removed after the copies and a checkpoint are durable.
    func relocate(_ id: ChunkID, from victim: UInt32) throws(AFSError) {
        guard let loc = try location(of: id), loc.segment == victim else { return }
        let raw = try read(id: id, at: loc, verifyIdentity: false)
        var record = raw.withUnsafeBytes { RecordCodec.encode(type: loc.type, id: id, raw: $0, syncEpoch: syncEpoch.load(ordering: .relaxed)) }
        lock.lock()
        defer { lock.unlock() }
        guard try index.lookup(id)?.segment == victim else { return }
        stamp(&record)
        if headOffset + Int64(record.count) > options.segmentSize {
            try startSegment(headSegment + 1)
        }
        let offset = headOffset
        try segments[headSegment]!.write(record, at: offset)
        headOffset += Int64(record.count)
        dirtySegments.insert(headSegment)
        try index.set(
            id,
            ChunkLocation(
                segment: headSegment, offset: UInt32(offset), storedLength: loc.storedLength,
                rawLength: loc.rawLength, type: loc.type))
        _ = committer.noteAppended()
    }

    /// Starts a new head segment so the current one can be cleaned (GC of a store that never filled a segment).
    func sealHead() throws(AFSError) {
        lock.lock()
        defer { lock.unlock() }
        guard headOffset > ChunkLog.segmentHeaderSize else { return }
        try startSegment(headSegment + 1)
    }

    /// Forgets dead IDs of a victim segment and unlinks it. Call only after relocation and `sync()`;
    /// returns false (and drops nothing) when a "dead" ID was reused by a writer during the epoch.
    @discardableResult
    func dropSegment(_ n: UInt32, deadIDs: [ChunkID]) throws(AFSError) -> Bool {
        lock.lock()
        guard n != headSegment, let file = segments[n] else {
            lock.unlock()
            return false
        }
        if let epoch = gcEpoch, deadIDs.contains(where: { epoch.contains($0) }) {
            lock.unlock()
            return false
        }
        do {
            for id in deadIDs {
                if try index.lookup(id)?.segment == n { try index.remove(id) }
            }
        } catch {
            lock.unlock()
            throw error
        }
        if index.segmentCounts[n] != nil {
            lock.unlock()
            throw AFSError.corrupted("refusing to drop segment \(n): live records still point into it")
        }
        segments.removeValue(forKey: n)
        retired.append(file)
        lock.unlock()
        // The index without this segment must be durable before the file goes away.
        try mergeIndex()
        unlink(segmentPath(n))
        try POSIXFile.syncDirectory(directory)
        return true
    }

    /// Flushes and merges the index when enough changed; the log stays usable (closing is the
    /// owner's business), but no background merge starts after it.
    func close() throws(AFSError) {
        try sync()
        lock.lock()
        closing = true
        lock.unlock()
        // Waits for a background merge in flight: nothing writes the index after close returns.
        mergeLock.lock()
        defer { mergeLock.unlock() }
        lock.lock()
        let due = appendedSinceCheckpoint >= options.checkpointOnCloseAfter || index.pendingCount >= options.indexMemoryEntries / 4
        let head = segments[headSegment]
        lock.unlock()
        if due { try mergeLocked() }
        // The header's synced mark, written after the last sync, is durable from here on.
        try head?.syncData()
        lock.lock()
        retired.removeAll()
        lock.unlock()
    }
}

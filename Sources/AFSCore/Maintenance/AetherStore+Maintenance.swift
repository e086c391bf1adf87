import Foundation

extension AetherStore {
    /// Every tree root and commit object that must survive GC, plus chunks held by unfolded overlays.
    private func gcRoots() throws(AFSError) -> (roots: [ChunkID], objects: [ChunkID], contents: [(TreeValue.Content, UInt64)]) {
        var roots = try catalog.liveRoots()
        roots.append(nodes.emptyRoot)
        var objects: [ChunkID] = []
        for s in try catalog.sessions(status: nil) {
            for c in [s.headCommit, s.baseCommit].compactMap({ $0 }) {
                objects.append(contentsOf: try commitClosure(c))
            }
        }
        for r in try catalog.refs() { objects.append(contentsOf: try commitClosure(r.commitID)) }
        var contents: [(TreeValue.Content, UInt64)] = []
        // Unfolded writes of sessions not yet opened in this process live only in their journals:
        // load every session whose journal holds records, so their large-write chunks stay roots.
        for info in try catalog.sessions(status: nil) where live.withLock({ $0[info.id] == nil }) {
            do throws(AFSError) {
                guard try journals.holdsRecords(session: info.id, generation: info.journalGeneration) else { continue }
                if ownership == nil {
                    _ = try liveSession(info.id)
                } else {
                    // Sessions may be open in other processes: read their journals without claiming
                    // them, each path's last item winning, as in the overlay they replay into.
                    let (_, replay) = try SessionJournal.open(journals, session: info.id, generation: info.journalGeneration)
                    var overlay: [SessionPath: OverlayItem] = [:]
                    for (path, item) in replay.items { overlay[path] = item }
                    for item in overlay.values {
                        if case .file(_, _, let size, .stored(let c), _) = item { contents.append((c, size)) }
                    }
                }
            } catch where error.code == .notFound {
                // Deleted since it was listed (another replica serves deletes while this one
                // collects): it holds nothing to keep. Anything else missing is an error.
                if try catalog.session(info.id) != nil { throw error }
            }
        }
        for s in live.withLock({ Array($0.values) }) {
            s.lock.withLock { contents.append(contentsOf: s.overlayChunkRefs) }
        }
        for upload in uploads.withLock({ $0.values.compactMap { $0.upload } }) {
            objects.append(contentsOf: upload.writtenChunks)
        }
        return (roots, objects, contents)
    }

    private func commitClosure(_ id: String) throws(AFSError) -> [ChunkID] {
        var out: [ChunkID] = []
        var seen: Set<String> = []
        var queue = [id]
        while let c = queue.popLast() {
            guard seen.insert(c).inserted, let info = try catalog.commit(c) else { continue }
            if let cid = ChunkID(hex: c) { out.append(cid) }
            queue.append(contentsOf: info.parents)
        }
        return out
    }

    /// Marks everything reachable from `roots`. Shared subtrees are visited once.
    func mark(roots: [ChunkID], contents: [(TreeValue.Content, UInt64)], into live: inout Set<ChunkID>) throws(AFSError) {
        func markContent(_ c: TreeValue.Content, _ size: UInt64, _ live: inout Set<ChunkID>) throws(AFSError) {
            switch c {
            case .chunk(let id): live.insert(id)
            case .chunkList(let id):
                guard live.insert(id).inserted else { return }
                for item in try content.chunks(of: c, size: size) { live.insert(item.id) }
            default: break
            }
        }
        func markDirectory(_ root: ChunkID, _ live: inout Set<ChunkID>) throws(AFSError) {
            var pending: [ChunkID] = []
            var local = live
            try ProllyMap.walkNodes(root, in: nodes, visit: { local.insert($0).inserted }) { (leaf) throws(AFSError) in
                for raw in leaf.values {
                    let v = try tree.decode(raw)
                    if case .directory(let child) = v.content { pending.append(child) } else { try markContent(v.content, v.size, &local) }
                }
            }
            live = local
            for child in pending where !live.contains(child) { try markDirectory(child, &live) }
        }
        for r in roots where !live.contains(r) { try markDirectory(r, &live) }
        for (c, size) in contents { try markContent(c, size, &live) }
    }

    /// Tracing garbage collection: mark from all live roots, then clean segments whose live fraction
    /// is below the threshold by copying their live records to the head of the log. Safe while the
    /// store is in use: roots are taken under the GC gate, and every chunk written or deduplicated
    /// during the collection is kept. Old segments go only after the copies and the index are durable.
    public func collectGarbage() throws(AFSError) -> GCReport {
        guard let ownership else {
            gate.withWriteLock { log.beginGCEpoch() }
            defer { log.endGCEpoch() }
            return try collect(reported: [])
        }
        // Other processes share the store: they join the collection (ownership.collectingGarbage),
        // after this one has begun its epoch and before the roots are read.
        var begun = false
        defer { if begun { log.endGCEpoch() } }
        return try ownership.collectingGarbage(beginHere: {
            gate.withWriteLock { log.beginGCEpoch() }
            begun = true
        }) { (reported) throws(AFSError) -> GCReport in
            try collect(reported: reported)
        }
    }

    /// Another process begins collecting garbage in the store this one shares: once the writes
    /// in flight here have finished (the gate), no write here relies on a record that exists now
    /// (the chunk store's epoch). Returns the chunks uploads in progress hold, which that
    /// collection must keep.
    func joinCollection() -> [ChunkID] {
        gate.withWriteLock { log.beginGCEpoch() }
        return uploads.withLock { $0.values.compactMap { $0.upload } }.flatMap(\.writtenChunks)
    }

    /// Marks from the roots (and `reported` chunks) and sweeps; the chunk store's epoch is running.
    private func collect(reported: [ChunkID]) throws(AFSError) -> GCReport {
        let (roots, objects, contents) = try gate.withWriteLock { () throws(AFSError) in try gcRoots() }
        var liveSet = Set(objects)
        liveSet.formUnion(reported)
        try mark(roots: roots, contents: contents, into: &liveSet)
        let swept = try log.sweep(live: liveSet, liveRatioThreshold: options.gcLiveRatioThreshold)
        return GCReport(
            liveChunks: liveSet.count, deadChunks: swept.deadRecords, segmentsCleaned: swept.unitsCleaned, chunksRelocated: swept.recordsRelocated,
            bytesFreed: swept.bytesFreed)
    }

    /// Space accounting. Logical bytes are summed per directory with memoization, so forks that
    /// share subtrees cost nothing extra to count.
    public func stats() throws(AFSError) -> StoreStats {
        let sessions = try catalog.sessions(status: nil)
        var memo: [ChunkID: Int64] = [:]
        func size(_ dir: ChunkID) throws(AFSError) -> Int64 {
            if let m = memo[dir] { return m }
            var total: Int64 = 0
            for (_, v) in try tree.list(dir) {
                if let child = v.directoryRoot { total += try size(child) } else if v.kind == .file { total += Int64(v.size) }
            }
            memo[dir] = total
            return total
        }
        var logical: Int64 = 0
        var checkpointCount = 0
        for s in sessions {
            let root = try resolveRoot(.session(s.id))
            logical += try size(root)
            checkpointCount += try catalog.checkpoints(session: s.id).count
        }
        let (roots, objects, contents) = try gate.withWriteLock { () throws(AFSError) in try gcRoots() }
        var liveSet = Set(objects)
        try mark(roots: roots, contents: contents, into: &liveSet)
        var physical: Int64 = 0
        var liveBytes: Int64 = 0
        for (id, size) in try log.storedSizes() {
            physical += Int64(size)
            if liveSet.contains(id) { liveBytes += Int64(size) }
        }
        let usage = log.usage()
        return StoreStats(
            logicalBytes: logical, physicalBytes: physical, diskBytes: usage.unitBytes, chunks: usage.records,
            sessions: sessions.count, checkpoints: checkpointCount, segments: usage.units,
            liveRatio: physical == 0 ? 1 : Double(liveBytes) / Double(physical),
            dedupRatio: physical == 0 ? 0 : Double(logical) / Double(physical))
    }

    /// Reads and checks every record of every segment (checksum, decompression, SHA-256 identity),
    /// checks that the index agrees, and walks every live tree. Problems name segment and offset.
    public func verify() throws(AFSError) -> VerifyReport {
        let records = try log.verifyRecords()
        var report = VerifyReport(recordsChecked: records.recordsChecked, bytesChecked: records.bytesChecked, treesChecked: 0, problems: records.problems)
        let stored = try log.storedSizes()
        for s in try catalog.sessions(status: nil) {
            do {
                // A session another process holds is checked at its folded root, from the catalog.
                let heldElsewhere = ownership != nil && live.withLock { $0[s.id] == nil }
                let root = heldElsewhere ? s.root : try inspect(s.id) { (l) throws(AFSError) in l.info.root }
                var liveSet: Set<ChunkID> = []
                try mark(roots: [root], contents: [], into: &liveSet)
                for id in liveSet where stored[id] == nil { report.problems.append("session \(s.id) needs missing chunk \(id.hex)") }
                report.treesChecked += 1
            } catch {
                report.problems.append("session \(s.id): \(error.message)")
            }
        }
        return report
    }
}

extension AetherStore {
    /// Files, logical bytes and physical bytes of each of `ids` (their trees as of their last
    /// fold plus unfolded writes); sessions that do not exist are left out.
    ///
    /// Physical bytes are what a session costs the store on top of its parent: the stored
    /// (compressed) size of the distinct chunks and chunk lists its files reference that its
    /// parent's files, as the parent is now, do not, plus the bytes of tiny files kept inline in
    /// changed entries. A fresh fork costs 0; a session without a parent (or whose parent was
    /// deleted) counts everything it holds. Found through the tree diff against the parent, so
    /// shared subtrees are never walked; one read of the store's stored sizes serves every session.
    public func sessionUsage(_ ids: [String]) throws(AFSError) -> [String: SessionUsage] {
        // Roots first: resolving one folds the session's unfolded writes into stored chunks,
        // which the sizes read next must include.
        var roots: [String: ChunkID] = [:]
        func root(_ id: String) throws(AFSError) -> ChunkID? {
            if let known = roots[id] { return known }
            do { roots[id] = try resolveRoot(.session(id)) } catch where error.code == .notFound { return nil }
            return roots[id]
        }
        var sessions: [(info: SessionInfo, root: ChunkID, parentRoot: ChunkID?)] = []
        for id in ids {
            guard let info = try catalog.session(id), let r = try root(id) else { continue }
            sessions.append((info, r, try info.parentID.flatMap { (p) throws(AFSError) in try root(p) }))
        }
        let sizes = try log.storedSizes()
        var out: [String: SessionUsage] = [:]
        for (info, root, parentRoot) in sessions {
            var usage = SessionUsage()
            try tree.walk(root) { _, v in
                if v.kind == .file {
                    usage.files += 1
                    usage.logicalBytes += Int64(v.size)
                }
            }
            var added: Set<ChunkID> = []
            var inlineBytes: Int64 = 0
            func take(_ v: TreeValue, into set: inout Set<ChunkID>) throws(AFSError) {
                switch v.content {
                case .chunk(let c):
                    set.insert(c)
                case .chunkList(let list):
                    set.insert(list)
                    for item in try content.chunks(of: v.content, size: v.size) { set.insert(item.id) }
                default:
                    break
                }
            }
            if let parentRoot {
                var dropped: Set<ChunkID> = []
                for change in try tree.diff(parentRoot, root) {
                    if let old = change.old, old.kind == .file { try take(old, into: &dropped) }
                    guard let new = change.new, new.kind == .file else { continue }
                    if case .inline(let bytes) = new.content { inlineBytes += Int64(bytes.count) }
                    try take(new, into: &added)
                }
                added.subtract(dropped)
            } else {
                try tree.walk(root) { (_, v) throws(AFSError) in
                    guard v.kind == .file else { return }
                    if case .inline(let bytes) = v.content { inlineBytes += Int64(bytes.count) }
                    try take(v, into: &added)
                }
            }
            usage.physicalBytes = inlineBytes + added.reduce(0) { $0 + Int64(sizes[$1] ?? 0) }
            out[info.id] = usage
        }
        return out
    }
}

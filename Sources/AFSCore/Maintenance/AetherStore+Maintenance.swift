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
            let path = SessionJournal.path(directory: journalDirectory, session: info.id, generation: info.journalGeneration)
            if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64, size > SessionJournal.headerSize {
                _ = try liveSession(info.id)
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
        let (roots, objects, contents) = try gate.withWriteLock { () throws(AFSError) in
            log.beginGCEpoch()
            return try gcRoots()
        }
        defer { _ = log.endGCEpoch() }
        var liveSet = Set(objects)
        try mark(roots: roots, contents: contents, into: &liveSet)
        try log.sync()
        // When the head segment holds mostly dead data, seal it so it can be cleaned like the rest.
        var headDead: Int64 = 0
        var headTotal: Int64 = 0
        let current = log.head.segment
        for (id, loc) in log.indexSnapshot() where loc.segment == current {
            headTotal += Int64(loc.recordSize)
            if !liveSet.contains(id) { headDead += Int64(loc.recordSize) }
        }
        if headTotal > 0, Double(headTotal - headDead) / Double(headTotal) < options.gcLiveRatioThreshold { try log.sealHead() }
        let index = log.indexSnapshot()
        let head = log.head.segment
        var bySegment: [UInt32: (live: [ChunkID], dead: [ChunkID], liveBytes: Int64, deadBytes: Int64)] = [:]
        for (id, loc) in index where loc.segment != head {
            var entry = bySegment[loc.segment] ?? ([], [], 0, 0)
            if liveSet.contains(id) {
                entry.live.append(id)
                entry.liveBytes += Int64(loc.recordSize)
            } else {
                entry.dead.append(id)
                entry.deadBytes += Int64(loc.recordSize)
            }
            bySegment[loc.segment] = entry
        }
        var report = GCReport(liveChunks: liveSet.count, deadChunks: 0, segmentsCleaned: 0, chunksRelocated: 0, bytesFreed: 0)
        for (segment, e) in bySegment.sorted(by: { $0.key < $1.key }) {
            report.deadChunks += e.dead.count
            let total = e.liveBytes + e.deadBytes
            guard total > 0, e.deadBytes > 0, Double(e.liveBytes) / Double(total) < options.gcLiveRatioThreshold else { continue }
            let epoch = log.epochIDs()
            var relocated = e.live
            relocated.append(contentsOf: e.dead.filter { epoch.contains($0) })
            for id in relocated { try log.relocate(id, from: segment) }
            try log.sync()
            let dead = e.dead.filter { !epoch.contains($0) }
            if try log.dropSegment(segment, deadIDs: dead) {
                report.segmentsCleaned += 1
                report.chunksRelocated += relocated.count
                report.bytesFreed += e.deadBytes
            }
        }
        // Segments with no records at all (every record dead and already forgotten) are cleaned too.
        for segment in log.segmentNumbers() where segment != head && bySegment[segment] == nil {
            if try log.dropSegment(segment, deadIDs: []) { report.segmentsCleaned += 1 }
        }
        return report
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
        let index = log.indexSnapshot()
        var physical: Int64 = 0
        var liveBytes: Int64 = 0
        for (id, loc) in index {
            physical += Int64(loc.recordSize)
            if liveSet.contains(id) { liveBytes += Int64(loc.recordSize) }
        }
        let totals = log.totals()
        return StoreStats(
            logicalBytes: logical, physicalBytes: physical, diskBytes: totals.segmentBytes, chunks: totals.chunks,
            sessions: sessions.count, checkpoints: checkpointCount, segments: totals.segmentCount,
            liveRatio: physical == 0 ? 1 : Double(liveBytes) / Double(physical),
            dedupRatio: physical == 0 ? 0 : Double(logical) / Double(physical))
    }

    /// Reads and checks every record of every segment (checksum, decompression, SHA-256 identity),
    /// checks that the index agrees, and walks every live tree. Problems name segment and offset.
    public func verify() throws(AFSError) -> VerifyReport {
        var report = VerifyReport(recordsChecked: 0, bytesChecked: 0, treesChecked: 0, problems: [])
        let index = log.indexSnapshot()
        var seen: Set<ChunkID> = []
        for n in log.segmentNumbers() {
            let path = log.segmentPath(n)
            guard let file = try? POSIXFile.open(path, flags: O_RDONLY) else {
                report.problems.append("segment \(n): cannot open \(path)")
                continue
            }
            let size = try file.size()
            var reader = SegmentReader(file: file, size: size)
            var offset = ChunkLog.segmentHeaderSize
            scan: while offset + Int64(RecordCodec.headerSize) <= size {
                switch try reader.record(at: offset) {
                case .end: break scan
                case .bad(let why):
                    report.problems.append("segment \(n) offset \(offset): \(why)")
                    break scan
                case .record(let h, let total):
                    report.recordsChecked += 1
                    report.bytesChecked += Int64(total)
                    if let payload = try reader.payload(at: offset, header: h) {
                        if ContentHash.sha256(payload) != h.id {
                            report.problems.append("segment \(n) offset \(offset): content does not match id \(h.id.hex)")
                        }
                    } else {
                        report.problems.append("segment \(n) offset \(offset): payload does not decompress")
                    }
                    if let loc = index[h.id], loc.segment == n, loc.offset == UInt32(offset) { seen.insert(h.id) }
                    offset += Int64(total)
                }
            }
        }
        for (id, loc) in index where !seen.contains(id) {
            report.problems.append("index entry \(id.hex) points to segment \(loc.segment) offset \(loc.offset), where no valid record is")
        }
        for s in try catalog.sessions(status: nil) {
            do {
                let root = try inspect(s.id) { (l) throws(AFSError) in l.info.root }
                var liveSet: Set<ChunkID> = []
                try mark(roots: [root], contents: [], into: &liveSet)
                for id in liveSet where index[id] == nil { report.problems.append("session \(s.id) needs missing chunk \(id.hex)") }
                report.treesChecked += 1
            } catch {
                report.problems.append("session \(s.id): \(error.message)")
            }
        }
        return report
    }
}

extension AetherStore {
    /// Files and logical bytes of one session (its tree as of its last fold plus unfolded writes).
    public func sessionUsage(_ id: String) throws(AFSError) -> (files: Int, logicalBytes: Int64) {
        let root = try resolveRoot(.session(id))
        var files = 0
        var bytes: Int64 = 0
        try tree.walk(root) { _, v in
            if v.kind == .file {
                files += 1
                bytes += Int64(v.size)
            }
        }
        return (files, bytes)
    }
}

import Foundation

/// The segment log is the embedded ``ChunkStore``: records appended to segment files on the
/// local disk, an in-memory index checkpointed to disk, segments cleaned by copying their live
/// records to the head.
extension ChunkLog: ChunkStore {
    /// Cleans every segment (the head too, when mostly dead: it is sealed first) whose live share
    /// is below the threshold by copying its live records to the head, then drops it once the
    /// copies and the index are durable. IDs recorded during the epoch are kept.
    func sweep(live liveSet: Set<ChunkID>, liveRatioThreshold: Double) throws(AFSError) -> ChunkSweepReport {
        try sync()
        // When the head segment holds mostly dead data, seal it so it can be cleaned like the rest.
        var headDead: Int64 = 0
        var headTotal: Int64 = 0
        let current = head.segment
        for (id, loc) in try indexSnapshot() where loc.segment == current {
            headTotal += Int64(loc.recordSize)
            if !liveSet.contains(id) { headDead += Int64(loc.recordSize) }
        }
        if headTotal > 0, Double(headTotal - headDead) / Double(headTotal) < liveRatioThreshold { try sealHead() }
        let index = try indexSnapshot()
        let headSegment = head.segment
        var bySegment: [UInt32: (live: [ChunkID], dead: [ChunkID], liveBytes: Int64, deadBytes: Int64)] = [:]
        for (id, loc) in index where loc.segment != headSegment {
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
        var report = ChunkSweepReport()
        for (segment, e) in bySegment.sorted(by: { $0.key < $1.key }) {
            report.deadRecords += e.dead.count
            let total = e.liveBytes + e.deadBytes
            guard total > 0, e.deadBytes > 0, Double(e.liveBytes) / Double(total) < liveRatioThreshold else { continue }
            let epoch = epochIDs()
            var relocated = e.live
            relocated.append(contentsOf: e.dead.filter { epoch.contains($0) })
            for id in relocated { try relocate(id, from: segment) }
            try sync()
            let dead = e.dead.filter { !epoch.contains($0) }
            if try dropSegment(segment, deadIDs: dead) {
                report.unitsCleaned += 1
                report.recordsRelocated += relocated.count
                report.bytesFreed += e.deadBytes
            }
        }
        // Segments with no records at all (every record dead and already forgotten) are cleaned too.
        for segment in segmentNumbers() where segment != headSegment && bySegment[segment] == nil {
            if try dropSegment(segment, deadIDs: []) { report.unitsCleaned += 1 }
        }
        return report
    }

    func storedSizes() throws(AFSError) -> [ChunkID: Int] {
        try indexSnapshot().mapValues { $0.recordSize }
    }

    func usage() -> ChunkStoreUsage {
        let t = totals()
        return ChunkStoreUsage(records: t.chunks, rawBytes: t.rawBytes, storedBytes: t.storedBytes, units: t.segmentCount, unitBytes: t.segmentBytes)
    }

    /// Reads every record of every segment (checksum, decompression, SHA-256 identity) and checks
    /// that the index agrees. Problems name segment and offset.
    func verifyRecords() throws(AFSError) -> ChunkVerification {
        var report = ChunkVerification()
        report.problems = verifyIndexFile()
        // A damaged index file is reported above; the records are still checked against it.
        let index = report.problems.isEmpty ? try indexSnapshot() : [:]
        for n in segmentNumbers() {
            let path = segmentPath(n)
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
                    if let loc = index[h.id], loc.segment == n, loc.offset == UInt32(offset) { report.intact.insert(h.id) }
                    offset += Int64(total)
                }
            }
        }
        for (id, loc) in index where !report.intact.contains(id) {
            report.problems.append("index entry \(id.hex) points to segment \(loc.segment) offset \(loc.offset), where no valid record is")
        }
        return report
    }
}

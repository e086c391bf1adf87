import Foundation

/// The embedded ``JournalStore``: one file per session generation in a directory of the store,
/// `SESSION.GENERATION.jnl`.
///
/// A file is the magic `AFSJNL02` then records `u32 length | payload | u64 XXH3-64(length +
/// payload)`. Opening stops at the first torn or damaged record and truncates it: such a record was
/// never acknowledged, since its `fdatasync` never returned. Zeroes after the records are space
/// written ahead (``FileJournal``): a length of 0 ends the records, so they are dropped the same way.
final class FileJournalStore: JournalStore {
    static let magic = Array("AFSJNL02".utf8)
    static let headerSize: Int64 = 8

    let directory: String

    init(directory: String) {
        self.directory = directory
    }

    func path(session: String, generation: Int) -> String {
        "\(directory)/\(session).\(generation).jnl"
    }

    func open(session: String, generation: Int) throws(AFSError) -> (log: any JournalLog, records: [[UInt8]]) {
        let (journal, records) = try openFile(session: session, generation: generation)
        return (journal, records)
    }

    /// ``open(session:generation:)`` with the concrete journal, for callers that need its
    /// following waits (``FileJournal/waitFollowing(_:)``).
    func openFile(session: String, generation: Int) throws(AFSError) -> (log: FileJournal, records: [[UInt8]]) {
        let path = path(session: session, generation: generation)
        let file = try POSIXFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o644)
        var size = try file.size()
        let magic = FileJournalStore.magic
        // A header of zeroes: a power cut kept the new file's size but not its first block. The
        // header is synced before any record is appended, so nothing in it was acknowledged.
        if size >= FileJournalStore.headerSize, try file.read(count: Int(FileJournalStore.headerSize), at: 0).allSatisfy({ $0 == 0 }) {
            size = 0
        }
        if size < FileJournalStore.headerSize {
            try file.truncate(to: 0)
            try file.write(magic, at: 0)
            try file.sync()
            try POSIXFile.syncDirectory(directory)
            size = FileJournalStore.headerSize
        }
        var bytes = try file.read(count: Int(size), at: 0)
        if size == FileJournalStore.headerSize, Array(bytes[0..<6]) == Array(magic[0..<6]), Array(bytes[0..<8]) != magic {
            // An empty journal of another version holds nothing to misread: upgrade its header.
            try file.write(magic, at: 0)
            try file.sync()
            bytes = magic
        }
        guard Array(bytes[0..<8]) == magic else {
            if Array(bytes[0..<6]) == Array(magic[0..<6]) {
                throw AFSError(
                    .unsupportedFormat,
                    "journal \(path) is format \(String(decoding: bytes[6..<8], as: UTF8.self)); this build reads \(String(decoding: magic[6..<8], as: UTF8.self)). Open the store with the build that wrote it and checkpoint the session first")
            }
            throw AFSError.corrupted("journal \(path) has no valid header")
        }
        var records: [[UInt8]] = []
        var offset = Int(FileJournalStore.headerSize)
        while offset + 4 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            let recordEnd = offset + 4 + length + 8
            guard length > 0, recordEnd <= bytes.count else { break }
            let expected = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset + 4 + length, as: UInt64.self)) }
            let actual = bytes.withUnsafeBytes { ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 4 + length])) }
            guard actual == expected else { break }
            records.append(Array(bytes[offset + 4..<offset + 4 + length]))
            offset = recordEnd
        }
        if offset < bytes.count {
            // Torn tail: drop it so later appends start on a clean boundary.
            try file.truncate(to: Int64(offset))
            try file.syncData()
        }
        return (FileJournal(file: file, end: Int64(offset)), records)
    }

    func holdsRecords(session: String, generation: Int) throws(AFSError) -> Bool {
        let path = path(session: session, generation: generation)
        guard let file = try? POSIXFile.open(path, flags: O_RDONLY) else { return false }
        // The first record's length: zeroes are space written ahead, not a record.
        guard let length = try? file.read(count: 4, at: FileJournalStore.headerSize), length.count == 4 else { return false }
        return length.contains { $0 != 0 }
    }

    func remove(session: String, generation: Int) throws(AFSError) {
        unlink(path(session: session, generation: generation))
    }
}

/// An open journal file: appends at its end, one group-committed `fdatasync` for many writers.
///
/// Records are written into space the file already has: ahead of the records, the file is
/// extended with zeroes and synced once per extension (as PostgreSQL fills a WAL segment before
/// using it). An append then changes no file size, so its `fdatasync` writes the data alone, not
/// the inode too: on ext4 here that is 65–85 µs instead of 110–140 µs per durable write.
/// Extensions double with the file, from 64 KiB up to 256 KiB (larger steps lengthened the tail
/// latency of the appends that meet one's sync), so a session that writes little holds little
/// spare space; reopening drops the zeroes (they read as the end of the records).
/// The first extension is made by the first append; later ones start in the background once
/// half of the spare space is used, so an append rarely waits for one.
final class FileJournal: JournalLog, @unchecked Sendable {
    // @unchecked: `end`, `allocated` and `extending` are guarded by `lock`; the file handle is shareable.
    private let file: POSIXFile
    private let lock = NSCondition()
    private var end: Int64
    /// The file's size that is durable: records end at `end`, zeroes fill the rest.
    private var allocated: Int64
    /// An extension is being written (by the background queue or an append).
    private var extending = false
    private let committer = GroupCommit()
    static let minimumExtension: Int64 = 64 << 10
    static let maximumExtension: Int64 = 256 << 10
    /// Where extensions ahead of need are written: one queue for every journal of the process.
    private static let extensionQueue = DispatchQueue(label: "afs.journal.extend", qos: .utility)

    init(file: POSIXFile, end: Int64) {
        self.file = file
        self.end = end
        self.allocated = end
    }

    func append(_ record: [UInt8]) throws(AFSError) -> UInt64 {
        var w = BinaryWriter(capacity: record.count + 12)
        w.u32(UInt32(record.count))
        w.raw(record)
        w.u64(ContentHash.xxh3(w.bytes))
        lock.lock()
        defer { lock.unlock() }
        let newEnd = end + Int64(w.bytes.count)
        while newEnd > allocated {
            if extending {
                lock.wait()
                continue
            }
            extending = true
            let from = allocated
            lock.unlock()
            let extended = Result { () throws(AFSError) -> Int64 in try extend(from: from, toCover: newEnd) }
            lock.lock()
            extending = false
            lock.broadcast()
            allocated = try extended.get()
        }
        try file.write(w.bytes, at: end)
        end = newEnd
        if !extending, allocated - end < FileJournal.step(after: allocated) / 2 {
            extending = true
            let from = allocated
            FileJournal.extensionQueue.async { [self] in
                // A failure here is only a missed head start: the next append that needs the
                // space extends the file itself and reports the error.
                let extended = try? extend(from: from, toCover: from + 1)
                lock.lock()
                if let extended { allocated = extended }
                extending = false
                lock.broadcast()
                lock.unlock()
            }
        }
        return committer.noteAppended()
    }

    /// The next extension of a file of `size` bytes: as large as the file, within the bounds.
    static func step(after size: Int64) -> Int64 {
        min(max(size, minimumExtension), maximumExtension)
    }

    /// Writes zeroes from `from` (the durable size) to at least `needed` and syncs them, so the
    /// file's new size and blocks are durable before any record relies on them; returns the new
    /// size. Runs without `lock` (`extending` keeps it to one at a time): appends keep writing
    /// below `from` meanwhile.
    private func extend(from: Int64, toCover needed: Int64) throws(AFSError) -> Int64 {
        let step = FileJournal.step(after: from)
        var size = from + step
        while size < needed { size += step }
        var offset = from
        while offset < size {
            let count = Int(min(1 << 20, size - offset))
            try file.write([UInt8](repeating: 0, count: count), at: offset)
            offset += Int64(count)
        }
        try file.syncData()
        return size
    }

    func waitDurable(_ ticket: UInt64) throws(AFSError) {
        try committer.waitDurable(ticket) { () throws(AFSError) in try file.syncData() }
    }

    /// Returns once `ticket` is durable, leaving the syncs to the writers' own waits.
    func waitFollowing(_ ticket: UInt64) throws(AFSError) {
        try committer.waitFollowing(ticket)
    }

    var byteSize: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return end
    }
}

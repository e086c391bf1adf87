import Foundation

/// The embedded ``JournalStore``: one file per session generation in a directory of the store,
/// `SESSION.GENERATION.jnl`.
///
/// A file is the magic `AFSJNL02` then records `u32 length | payload | u64 XXH3-64(length +
/// payload)`. Opening stops at the first torn or damaged record and truncates it: such a record was
/// never acknowledged, since its `fdatasync` never returned.
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
        guard let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64 else { return false }
        return size > FileJournalStore.headerSize
    }

    func remove(session: String, generation: Int) throws(AFSError) {
        unlink(path(session: session, generation: generation))
    }
}

/// An open journal file: appends at its end, one group-committed `fdatasync` for many writers.
final class FileJournal: JournalLog, @unchecked Sendable {
    // @unchecked: `end` is guarded by `lock`; the file handle is shareable.
    private let file: POSIXFile
    private let lock = NSLock()
    private var end: Int64
    private let committer = GroupCommit()

    init(file: POSIXFile, end: Int64) {
        self.file = file
        self.end = end
    }

    func append(_ record: [UInt8]) throws(AFSError) -> UInt64 {
        var w = BinaryWriter(capacity: record.count + 12)
        w.u32(UInt32(record.count))
        w.raw(record)
        w.u64(ContentHash.xxh3(w.bytes))
        lock.lock()
        defer { lock.unlock() }
        try file.write(w.bytes, at: end)
        end += Int64(w.bytes.count)
        return committer.noteAppended()
    }

    func waitDurable(_ ticket: UInt64) throws(AFSError) {
        try committer.waitDurable(ticket) { () throws(AFSError) in try file.syncData() }
    }

    var byteSize: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return end
    }
}

import Foundation

/// The durable, per-session log of writes not yet folded into the session's tree.
///
/// A write appends one record and waits for a group-committed `fdatasync`, so it costs one small
/// sequential write instead of rewriting tree nodes up to the root. Records are
/// `u32 length | payload | u64 XXH3-64(length + payload)`; replay stops at the first torn record and
/// truncates it (it was never acknowledged: its sync never returned).
final class SessionJournal: @unchecked Sendable {
    // @unchecked: `end` is guarded by `lock`; the file handle is shareable.
    static let magic = Array("AFSJNL02".utf8)
    static let headerSize: Int64 = 8

    let path: String
    private let file: POSIXFile
    private let lock = NSLock()
    private var end: Int64
    private let committer = GroupCommit()

    private init(path: String, file: POSIXFile, end: Int64) {
        self.path = path
        self.file = file
        self.end = end
    }

    static func path(directory: String, session: String, generation: Int) -> String {
        "\(directory)/\(session).\(generation).jnl"
    }

    /// What replay found: overlay items in order, and the changefeed events that rode along.
    struct Replay {
        var items: [(SessionPath, OverlayItem)] = []
        var events: [ChangeEvent] = []
    }

    /// Opens (creating if needed) and replays the journal.
    static func open(path: String, session: String) throws(AFSError) -> (SessionJournal, Replay) {
        let file = try POSIXFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o644)
        var size = try file.size()
        if size < headerSize {
            try file.truncate(to: 0)
            try file.write(magic, at: 0)
            try file.sync()
            try POSIXFile.syncDirectory((path as NSString).deletingLastPathComponent)
            size = headerSize
        }
        var bytes = try file.read(count: Int(size), at: 0)
        if size == headerSize, Array(bytes[0..<6]) == Array(magic[0..<6]), Array(bytes[0..<8]) != magic {
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
        var replay = Replay()
        var offset = Int(headerSize)
        while offset + 4 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
            let recordEnd = offset + 4 + length + 8
            guard length > 0, recordEnd <= bytes.count else { break }
            let expected = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset + 4 + length, as: UInt64.self)) }
            let actual = bytes.withUnsafeBytes { ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 4 + length])) }
            guard actual == expected else { break }
            var r = BinaryReader(Array(bytes[offset + 4..<offset + 4 + length]))
            guard let (event, item) = try? SessionJournal.decodeRecord(&r, session: session) else { break }
            replay.items.append(item)
            if let event { replay.events.append(event) }
            offset = recordEnd
        }
        if offset < bytes.count {
            // Torn tail: drop it so later appends start on a clean boundary.
            try file.truncate(to: Int64(offset))
            try file.syncData()
        }
        return (SessionJournal(path: path, file: file, end: Int64(offset)), replay)
    }

    /// Record payload: u8 flags (bit 0: an event follows), the event, then the overlay item.
    static func decodeRecord(_ r: inout BinaryReader, session: String) throws(BinaryReader.Malformed) -> (ChangeEvent?, (SessionPath, OverlayItem)) {
        let flags = try r.u8()
        var event: ChangeEvent?
        if flags & 1 != 0 {
            let seq = try r.varint()
            guard let kind = ChangeEvent.Kind(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let path = try r.string()
            let size = try r.varint()
            let content = try r.string()
            let actor = try r.string()
            let time = try r.svarint()
            let detail = try r.string()
            event = ChangeEvent(
                seq: seq, session: session, kind: kind, path: path, size: size == 0 ? nil : size - 1,
                contentID: content.isEmpty ? nil : content, actor: actor, time: time, detail: detail.isEmpty ? nil : detail)
        }
        return (event, try OverlayItem.decode(&r))
    }

    /// Appends one item (with the changefeed event it produces, if any); returns a ticket for `waitDurable`.
    func append(_ path: SessionPath, _ item: OverlayItem, event: ChangeEvent? = nil) throws(AFSError) -> UInt64 {
        var payload = BinaryWriter(capacity: 128)
        if let e = event {
            payload.u8(1)
            payload.varint(e.seq)
            payload.string(e.kind.rawValue)
            payload.string(e.path)
            payload.varint(e.size.map { $0 + 1 } ?? 0)
            payload.string(e.contentID ?? "")
            payload.string(e.actor)
            payload.svarint(e.time)
            payload.string(e.detail ?? "")
        } else {
            payload.u8(0)
        }
        item.encode(path: path, into: &payload)
        var w = BinaryWriter(capacity: payload.bytes.count + 12)
        w.u32(UInt32(payload.bytes.count))
        w.raw(payload.bytes)
        w.u64(ContentHash.xxh3(w.bytes))
        lock.lock()
        defer { lock.unlock() }
        try file.write(w.bytes, at: end)
        end += Int64(w.bytes.count)
        return committer.noteAppended()
    }

    /// Returns once the ticket's record is on stable storage (shared fdatasync among writers).
    func waitDurable(_ ticket: UInt64) throws(AFSError) {
        try committer.waitDurable(ticket) { () throws(AFSError) in try file.syncData() }
    }

    var byteSize: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return end
    }
}

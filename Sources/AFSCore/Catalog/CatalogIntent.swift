import Foundation

/// A new session and its first changefeed events, as the embedded catalog writes them to its
/// intent log (``CatalogIntentLog``) before SQLite applies them.
///
/// The record is the whole row set of ``Catalog/insertSession(_:events:)``, so a crash between the
/// record's `fdatasync` and SQLite's own sync loses nothing: the catalog replays the record when
/// it next opens. `lsn` orders records across the log's files; the catalog stores the highest one
/// it applied in the same transaction as the rows (`counter.catalog_intents`), which is how replay
/// tells an applied record (perhaps since deleted) from one SQLite never made durable.
///
/// Encoding (Docs/FORMAT.md §16): `u8 kind (1) | u64 lsn | session | varint count | events`,
/// strings length-prefixed UTF-8, the session's optionals as `u8 0|1` then the value, dates as the
/// bit pattern of their `Double` seconds since 1970 (SQLite's column value, exactly); each event
/// is its session's ID then the event's one binary form (``ChangeEvent/encode(into:)``).
struct CatalogIntent: Equatable {
    static let insertSessionKind: UInt8 = 1

    var lsn: UInt64
    var session: SessionInfo
    var events: [ChangeEvent]

    func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 384)
        w.u8(CatalogIntent.insertSessionKind)
        w.u64(lsn)
        let s = session
        w.string(s.id)
        w.optional(s.name)
        w.string(s.status.rawValue)
        w.optional(s.parentID)
        w.string(s.source)
        w.id(s.root)
        w.optional(s.baseCommit)
        w.optional(s.headCommit)
        w.u64(s.createdAt.timeIntervalSince1970.bitPattern)
        w.u64(s.updatedAt.timeIntervalSince1970.bitPattern)
        w.svarint(Int64(s.journalGeneration))
        w.optional(s.tenant)
        w.varint(events.count)
        for e in events {
            w.string(e.session)
            e.encode(into: &w)
        }
        return w.bytes
    }

    /// Decodes a record; `corrupted` names `source` (the log file) when the bytes are not one.
    init(decoding bytes: [UInt8], source: String) throws(AFSError) {
        guard let kind = bytes.first, kind == CatalogIntent.insertSessionKind else {
            throw AFSError(.unsupportedFormat, "catalog intent log \(source) holds a record of kind \(bytes.first.map(String.init) ?? "none"), unknown to this build; open the store with the build that wrote it")
        }
        var r = BinaryReader(bytes, offset: 1)
        do throws(BinaryReader.Malformed) {
            lsn = try r.u64()
            let id = try r.string()
            let name = try r.optionalString()
            guard let status = SessionStatus(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
            let parentID = try r.optionalString()
            let source = try r.string()
            let root = try r.id()
            let baseCommit = try r.optionalString()
            let headCommit = try r.optionalString()
            let createdAt = Date(timeIntervalSince1970: Double(bitPattern: try r.u64()))
            let updatedAt = Date(timeIntervalSince1970: Double(bitPattern: try r.u64()))
            let generation = try r.svarint()
            let tenant = try r.optionalString()
            session = SessionInfo(
                id: id, name: name, status: status, parentID: parentID, source: source, root: root,
                baseCommit: baseCommit, headCommit: headCommit, createdAt: createdAt, updatedAt: updatedAt,
                journalGeneration: Int(generation), tenant: tenant)
            let count = try r.length(max: 1 << 16)
            events = []
            events.reserveCapacity(count)
            for _ in 0..<count {
                let session = try r.string()
                events.append(try ChangeEvent.decode(&r, session: session))
            }
            guard r.isAtEnd else { throw BinaryReader.Malformed() }
        } catch {
            throw AFSError.corrupted("catalog intent log \(source) holds a malformed record (its checksum matched: written by another build?)")
        }
    }

    init(lsn: UInt64, session: SessionInfo, events: [ChangeEvent]) {
        self.lsn = lsn
        self.session = session
        self.events = events
    }
}

extension BinaryWriter {
    fileprivate mutating func optional(_ s: String?) {
        if let s {
            u8(1)
            string(s)
        } else {
            u8(0)
        }
    }
}

extension BinaryReader {
    fileprivate mutating func optionalString() throws(Malformed) -> String? {
        switch try u8() {
        case 0: return nil
        case 1: return try string()
        default: throw Malformed()
        }
    }
}

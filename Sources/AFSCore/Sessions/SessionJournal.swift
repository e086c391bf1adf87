import Foundation

/// A session's journal as the engine sees it: overlay items (with the changefeed events that ride
/// along) encoded into the records of a ``JournalLog``.
///
/// A write appends one record and waits for it to be durable, so it costs one small append
/// instead of rewriting tree nodes up to the root. Where the records live (a file, a database
/// table) is the ``JournalStore``'s business.
final class SessionJournal: @unchecked Sendable {
    // @unchecked: `lastTicket` is written by the session-lock holder only.
    let session: String
    let generation: Int
    private let log: any JournalLog
    /// The ticket of the last record appended (waiting on it covers every record).
    private(set) var lastTicket: UInt64 = 0

    private init(session: String, generation: Int, log: any JournalLog) {
        self.session = session
        self.generation = generation
        self.log = log
    }

    /// What replay found: overlay items in order, and the changefeed events that rode along.
    struct Replay {
        var items: [(SessionPath, OverlayItem)] = []
        var events: [ChangeEvent] = []
    }

    /// Opens (creating if needed) one generation and replays it. Replay stops at the first record
    /// that does not decode, as at a torn one.
    static func open(_ store: any JournalStore, session: String, generation: Int) throws(AFSError) -> (SessionJournal, Replay) {
        let (log, records) = try store.open(session: session, generation: generation)
        var replay = Replay()
        for record in records {
            var r = BinaryReader(record)
            guard let (event, item) = try? decodeRecord(&r, session: session) else { break }
            replay.items.append(item)
            if let event { replay.events.append(event) }
        }
        return (SessionJournal(session: session, generation: generation, log: log), replay)
    }

    /// Record payload: u8 flags (bit 0: an event follows), the event, then the overlay item.
    static func decodeRecord(_ r: inout BinaryReader, session: String) throws(BinaryReader.Malformed) -> (ChangeEvent?, (SessionPath, OverlayItem)) {
        let flags = try r.u8()
        var event: ChangeEvent?
        if flags & 1 != 0 { event = try ChangeEvent.decode(&r, session: session) }
        return (event, try OverlayItem.decode(&r))
    }

    /// Appends one item (with the changefeed event it produces, if any); returns a ticket for `waitDurable`.
    func append(_ path: SessionPath, _ item: OverlayItem, event: ChangeEvent? = nil) throws(AFSError) -> UInt64 {
        var payload = BinaryWriter(capacity: 128)
        if let event {
            payload.u8(1)
            event.encode(into: &payload)
        } else {
            payload.u8(0)
        }
        item.encode(path: path, into: &payload)
        let ticket = try log.append(payload.bytes)
        lastTicket = max(lastTicket, ticket)
        return ticket
    }

    /// Returns once the ticket's record is durable (commits are shared among writers).
    func waitDurable(_ ticket: UInt64) throws(AFSError) {
        try log.waitDurable(ticket)
    }

    var byteSize: Int64 { log.byteSize }
}

/// Where sessions log their writes before those writes are folded into trees.
///
/// A write is acknowledged once its journal record is durable, so the journal decides where
/// acknowledged-but-unfolded writes live: the embedded store keeps them in files beside its
/// catalog (``AetherStore/open(at:options:chunks:catalog:journals:ownership:)`` with `journals: nil`); a
/// clustered deployment keeps them in its shared database, so that no acknowledged write lives
/// only on one server's disk.
///
/// Each session has one journal per *generation*; a fold starts the next generation (the catalog's
/// session row names the current one) and removes the previous. Records are opaque bytes that the
/// engine encodes and decodes.
public protocol JournalStore: Sendable {
    /// Opens (creating if needed) one generation of a session's journal and returns it with the
    /// records it already holds, in append order. A record that was never made durable may be
    /// missing; one that was made durable is never missing, never altered.
    func open(session: String, generation: Int) throws(AFSError) -> (log: any JournalLog, records: [[UInt8]])
    /// Whether a generation holds any record (GC loads such sessions to keep their chunks).
    func holdsRecords(session: String, generation: Int) throws(AFSError) -> Bool
    /// Removes one generation (superseded by a fold, or its session deleted). Removing a
    /// generation that does not exist is not an error.
    func remove(session: String, generation: Int) throws(AFSError)
}

/// One open generation of a session's journal. Appends come from the writer holding the
/// session's lock; `waitDurable` is called after that lock is released, by many writers at once,
/// so an implementation should commit their records together (see ``GroupCommit``).
public protocol JournalLog: AnyObject, Sendable {
    /// Appends one record and returns a ticket for ``waitDurable(_:)``.
    func append(_ record: [UInt8]) throws(AFSError) -> UInt64
    /// Returns once the record of `ticket` and every earlier one are durable.
    func waitDurable(_ ticket: UInt64) throws(AFSError)
    /// Bytes held, to decide when to fold.
    var byteSize: Int64 { get }
}

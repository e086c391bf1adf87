/// The token git's file-system monitor hook hands back and forth: which session's changefeed, and
/// up to which event the last answer covered.
///
/// Git stores it in the index (the `FSMN` extension) and passes it to the next query; the mount
/// answers with the paths its changefeed names after `seq`. The session is part of the token, so an
/// index carried into another session (a fork, another mount on the same directory) is not
/// trusted: its query gets "everything may have changed". Text form: `aether:1:SESSION:SEQ`.
public struct FSMonitorToken: Sendable, Equatable, CustomStringConvertible {
    public var session: String
    public var seq: UInt64

    public init(session: String, seq: UInt64) {
        self.session = session
        self.seq = seq
    }

    /// Parses the text form; nil for anything else (git's own timestamps, older formats, garbage).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "aether", parts[1] == "1", !parts[2].isEmpty, let seq = UInt64(parts[3]) else { return nil }
        self.init(session: String(parts[2]), seq: seq)
    }

    public var description: String { "aether:1:\(session):\(seq)" }
}

import AFSCore

// The engine's public records are the API's bodies as they are: their Codable conformances (with
// snake_case keys) are the wire format, and these conformances name them in the document.

extension ChunkID: WireScalar {
    public static var wireSchema: JSONValue {
        ["type": "string", "pattern": "^[0-9a-f]{64}$", "description": "A SHA-256 content address (64 hex digits)."]
    }
    public static var wireSample: ChunkID { ChunkID(hex: String(repeating: "0", count: 64))! }
}

extension EntryKind: WireEnum {
    public static var wireDescription: String {
        "What an entry is. fifo, socket, char-device and block-device are metadata only (a device's numbers are in rdev)."
    }
}
extension SessionStatus: WireEnum {}
extension DiffEntry.Change: WireEnum {}
extension PromoteResult.Outcome: WireEnum {}
extension ChangeEvent.Kind: WireEnum {}
extension BatchChange.Operation: WireEnum {}
extension AetherStore.XattrDisposition: WireEnum {
    public static var wireDescription: String { "any: create or replace; create: fail if it exists; replace: fail if it does not." }
}

extension SessionInfo: WireModel {
    public static var wireDescription: String { "A session: a copy-on-write workspace over the shared store." }
}
extension CheckpointInfo: WireModel {}
extension CommitInfo: WireModel {
    public static var wireDescription: String { "An immutable outcome; its id is the SHA-256 of its canonical encoding." }
}
extension RefInfo: WireModel {}
extension SnapshotInfo: WireModel {}

/// Descriptions of the POSIX metadata fields shared by ``FileStat``, ``DirectoryEntry`` and ``ManifestEntry``.
private let metadataDescriptions: [String: String] = [
    "mode": "Permission bits (st_mode & 07777), set-id and sticky bits included.",
    "size": "Bytes of a file, length of a symlink's target, 0 otherwise.",
    "mtime": "Modification time, nanoseconds since 1970.",
    "uid": "Numeric owner; absent: whoever mounts the session.",
    "gid": "Numeric group; absent: whoever mounts the session.",
    "ctime": "Change time (metadata or content), nanoseconds since 1970.",
    "atime": "Access time, nanoseconds since 1970, when recorded.",
    "rdev": "Device number (Linux encoding) of a char-device or block-device.",
    "inode": "Inode number, kept across renames; hard links share one.",
    "nlink": "Number of names of a hard-linked file.",
    "path": "Absolute path in the session.",
    "content_id": "SHA-256 of a file's bytes (hex), or the ID of its chunk list.",
    "target": "A symlink's target.",
    "name": "The entry's name in its directory.",
]

extension FileStat: WireModel {
    public static var wireDescription: String { "One path of a session (GET …/stat/{path})." }
    public static var wireFieldDescriptions: [String: String] {
        metadataDescriptions.merging(["xattrs": "Names of the entry's user. extended attributes."]) { a, _ in a }
    }
}
extension DirectoryEntry: WireModel {
    public static var wireFieldDescriptions: [String: String] { metadataDescriptions }
}
extension ManifestEntry: WireModel {
    public static var wireDescription: String { "One non-directory entry of a session's manifest." }
    public static var wireFieldDescriptions: [String: String] { metadataDescriptions }
}
extension TreeEntry: WireModel {
    public static var wireDescription: String { "One entry of a directory listing (GET …/tree)." }
    public static var wireFieldDescriptions: [String: String] { metadataDescriptions }
}
extension DiffEntry: WireModel {
    public static var wireDescription: String { "One changed path of a diff." }
}
extension PromoteResult: WireModel {
    public static var wireDescription: String { "What promote did; a conflicted promote (HTTP 409) lists the paths and leaves the ref alone." }
}

extension ChangeEvent: WireModel {
    public static var wireDescription: String { "One entry of a session's changefeed." }
}
extension BusMessage: WireModel {}
extension Lease: WireModel {
    public static var wireFieldDescriptions: [String: String] {
        ["token": "Fencing token: store-wide, strictly increasing with every grant.", "expires_at": "Seconds since 1970 (store clock)."]
    }
}
extension Annotation: WireModel {}
extension ReviewState: WireModel {}
extension ReviewState.Decision: WireModel {
    public static var wireName: String { "ReviewDecision" }
}
extension KnowledgeEntry: WireModel {
    public static var wireFieldDescriptions: [String: String] { ["value": "The JSON value as put, as text."] }
}
extension UndoReport: WireModel {}

extension StoreStats: WireModel {}
extension GCReport: WireModel {}
extension VerifyReport: WireModel {}

extension BatchChange: WireModel {
    public static var wireFieldDescriptions: [String: String] {
        [
            "data": "A write's bytes, base64.",
            "ctime": "A write's change time, nanoseconds since 1970: when the writer made it (default now; never later than now).",
        ]
    }
}
extension BatchOutcome: WireModel {}
extension BatchRequest: WireModel {}
extension BatchReply: WireModel {}

import AFSCore
import AFSWire
import AFSGRPC
import Foundation
import SwiftProtobuf

// The engine's records as the aether.v1 messages: the same fields as the JSON documents of the HTTP
// API, converted in one place so both transports describe a session, a file or an event alike.

extension Google_Protobuf_Timestamp {
    /// A time the engine keeps as nanoseconds since 1970 (mtimes, events), exactly.
    init(nanosecondsSince1970 ns: Int64) {
        let (seconds, remainder) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
        self = remainder < 0
            ? Google_Protobuf_Timestamp(seconds: seconds - 1, nanos: Int32(remainder + 1_000_000_000))
            : Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(remainder))
    }

    /// The same time back in the engine's unit (saturating far outside ±292 years).
    var nanosecondsSince1970: Int64 {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(Int64(nanos)).overflow ? .max : product + Int64(nanos)
    }
}

extension Aether_V1_SessionStatus {
    init(_ status: SessionStatus) {
        switch status {
        case .active: self = .active
        case .pendingApproval: self = .pendingApproval
        case .approved: self = .approved
        case .rejected: self = .rejected
        case .committed: self = .committed
        case .archived: self = .archived
        }
    }

    /// The engine's status; nil for UNSPECIFIED (no filter) and for values this build does not know.
    var engineStatus: SessionStatus? {
        switch self {
        case .active: .active
        case .pendingApproval: .pendingApproval
        case .approved: .approved
        case .rejected: .rejected
        case .committed: .committed
        case .archived: .archived
        case .unspecified, .UNRECOGNIZED: nil
        }
    }
}

extension Aether_V1_EntryKind {
    init(_ kind: EntryKind) {
        switch kind {
        case .file: self = .file
        case .directory: self = .directory
        case .symlink: self = .symlink
        case .fifo: self = .fifo
        case .socket: self = .socket
        case .characterDevice: self = .charDevice
        case .blockDevice: self = .blockDevice
        }
    }

    /// The engine's kind, or nil for UNSPECIFIED and unknown values.
    var entryKind: EntryKind? {
        switch self {
        case .file: .file
        case .directory: .directory
        case .symlink: .symlink
        case .fifo: .fifo
        case .socket: .socket
        case .charDevice: .characterDevice
        case .blockDevice: .blockDevice
        case .unspecified, .UNRECOGNIZED: nil
        }
    }
}

extension Aether_V1_Session {
    init(_ info: SessionInfo) {
        self.init()
        id = info.id
        if let name = info.name { self.name = name }
        status = Aether_V1_SessionStatus(info.status)
        if let parent = info.parentID { parentID = parent }
        source = info.source
        root = info.root.hex
        if let base = info.baseCommit { baseCommit = base }
        if let head = info.headCommit { headCommit = head }
        createdAt = Google_Protobuf_Timestamp(date: info.createdAt)
        updatedAt = Google_Protobuf_Timestamp(date: info.updatedAt)
        if let tenant = info.tenant { self.tenant = tenant }
    }
}

extension Aether_V1_Checkpoint {
    init(_ info: CheckpointInfo) {
        self.init()
        id = info.id
        sessionID = info.sessionID
        root = info.root.hex
        if let label = info.label { self.label = label }
        createdAt = Google_Protobuf_Timestamp(date: info.createdAt)
        changeSeq = info.changeSeq
    }
}

extension Aether_V1_Commit {
    init(_ info: CommitInfo) {
        self.init()
        id = info.id
        root = info.root.hex
        parents = info.parents
        message = info.message
        author = info.author
        createdAt = Google_Protobuf_Timestamp(date: info.createdAt)
        if let session = info.sessionID { sessionID = session }
    }
}

extension Aether_V1_FileStat {
    init(_ stat: FileStat) {
        self.init()
        path = stat.path
        kind = Aether_V1_EntryKind(stat.kind)
        mode = stat.mode
        size = stat.size
        mtime = Google_Protobuf_Timestamp(nanosecondsSince1970: stat.mtime)
        if let content = stat.contentID { contentID = content }
        if let target = stat.target { self.target = target }
        if let uid = stat.uid { self.uid = uid }
        if let gid = stat.gid { self.gid = gid }
        if let ctime = stat.ctime { self.ctime = Google_Protobuf_Timestamp(nanosecondsSince1970: ctime) }
        if let rdev = stat.rdev { self.rdev = rdev }
        xattrs = stat.xattrs ?? []
    }
}

extension Aether_V1_TreeEntry {
    init(_ tree: TreeEntry) {
        self.init()
        let e = tree.entry
        path = tree.path
        name = e.name
        kind = Aether_V1_EntryKind(e.kind)
        mode = e.mode
        size = e.size
        mtime = Google_Protobuf_Timestamp(nanosecondsSince1970: e.mtime)
        if let uid = e.uid { self.uid = uid }
        if let gid = e.gid { self.gid = gid }
        if let ctime = e.ctime { self.ctime = Google_Protobuf_Timestamp(nanosecondsSince1970: ctime) }
        if let rdev = e.rdev { self.rdev = rdev }
        if let inode = e.inode { self.inode = inode }
        if let atime = e.atime { self.atime = Google_Protobuf_Timestamp(nanosecondsSince1970: atime) }
        if let nlink = e.nlink { self.nlink = nlink }
        if let content = e.contentID { contentID = content }
    }
}

extension Aether_V1_ManifestEntry {
    init(_ entry: ManifestEntry) {
        self.init()
        path = entry.path
        kind = Aether_V1_EntryKind(entry.kind)
        size = entry.size
        mode = entry.mode
        if let content = entry.contentID { contentID = content }
        if let target = entry.target { self.target = target }
        if let uid = entry.uid { self.uid = uid }
        if let gid = entry.gid { self.gid = gid }
        if let rdev = entry.rdev { self.rdev = rdev }
    }
}

extension Aether_V1_DiffEntry {
    init(_ entry: DiffEntry) {
        self.init()
        path = entry.path
        switch entry.change {
        case .added: change = .added
        case .modified: change = .modified
        case .deleted: change = .deleted
        }
        kind = Aether_V1_EntryKind(entry.kind)
    }
}

extension Aether_V1_PromoteResponse {
    init(_ result: PromoteResult) {
        self.init()
        ref = result.ref
        switch result.outcome {
        case .created: outcome = .created
        case .fastForward: outcome = .fastForward
        case .merged: outcome = .merged
        case .upToDate: outcome = .upToDate
        case .conflicted: outcome = .conflicted
        }
        if let commit = result.commitID { commitID = commit }
        conflicts = result.conflicts
    }
}

extension Aether_V1_ChangeEvent {
    init(_ event: ChangeEvent) {
        self.init()
        seq = event.seq
        session = event.session
        kind = event.kind.rawValue
        path = event.path
        if let size = event.size { self.size = size }
        if let content = event.contentID { contentID = content }
        actor = event.actor
        time = Google_Protobuf_Timestamp(nanosecondsSince1970: event.time)
        if let detail = event.detail { self.detail = detail }
    }
}

extension Aether_V1_BusMessage {
    init(_ message: BusMessage) {
        self.init()
        session = message.session
        topic = message.topic
        offset = message.offset
        sender = message.sender
        payload = message.payload
        time = Google_Protobuf_Timestamp(nanosecondsSince1970: message.time)
    }
}

extension Aether_V1_Lease {
    init(_ lease: AFSCore.Lease) {
        self.init()
        session = lease.session
        path = lease.path
        prefix = lease.prefix
        exclusive = lease.exclusive
        holder = lease.holder
        token = lease.token
        expiresAt = Google_Protobuf_Timestamp(date: Date(timeIntervalSince1970: lease.expiresAt))
    }
}

extension Aether_V1_Annotation {
    init(_ annotation: AFSCore.Annotation) {
        self.init()
        id = annotation.id
        session = annotation.session
        if let path = annotation.path { self.path = path }
        if let start = annotation.lineStart { lineStart = Int64(start) }
        if let end = annotation.lineEnd { lineEnd = Int64(end) }
        if let commit = annotation.commitID { commitID = commit }
        author = annotation.author
        kind = annotation.kind
        text = annotation.text
        time = Google_Protobuf_Timestamp(nanosecondsSince1970: annotation.time)
    }
}

extension Aether_V1_KnowledgeEntry {
    /// An entry as its caller named it: `namespace` (the tenant prefix) is not part of the key shown.
    init(_ entry: AFSCore.KnowledgeEntry, namespace: String) {
        self.init()
        if let scope = entry.scope { self.scope = scope }
        key = String(entry.key.dropFirst(namespace.count))
        value = entry.value
        tags = entry.tags
        author = entry.author
        time = Google_Protobuf_Timestamp(nanosecondsSince1970: entry.time)
    }
}

extension Aether_V1_Ref {
    init(_ ref: RefInfo) {
        self.init()
        name = ref.name
        commitID = ref.commitID
        updatedAt = Google_Protobuf_Timestamp(date: ref.updatedAt)
    }
}

extension Aether_V1_Snapshot {
    init(_ snapshot: SnapshotInfo) {
        self.init()
        name = snapshot.name
        root = snapshot.root.hex
        if let session = snapshot.sessionID { sessionID = session }
        createdAt = Google_Protobuf_Timestamp(date: snapshot.createdAt)
    }
}

extension Aether_V1_ReviewState {
    init(_ state: ReviewState) {
        self.init()
        session = state.session
        status = Aether_V1_SessionStatus(state.status)
        reviewers = state.reviewers
        requiredApprovals = UInt32(clamping: state.requiredApprovals)
        if let by = state.requestedBy { requestedBy = by }
        decisions = state.decisions.map { d in
            var decision = Aether_V1_ReviewState.Decision()
            decision.reviewer = d.reviewer
            decision.approved = d.approved
            decision.comment = d.comment
            decision.time = d.time
            return decision
        }
    }
}

extension Aether_V1_UndoReport {
    init(_ report: UndoReport) {
        self.init()
        restored = report.restored
        removed = report.removed
        skipped = report.skipped
        checkpoint = report.checkpoint
    }
}

extension Aether_V1_Role {
    init(_ role: Role) {
        switch role {
        case .reader: self = .reader
        case .writer: self = .writer
        case .admin: self = .admin
        }
    }

    /// The role, or nil for UNSPECIFIED and unknown values.
    var role: Role? {
        switch self {
        case .reader: .reader
        case .writer: .writer
        case .admin: .admin
        case .unspecified, .UNRECOGNIZED: nil
        }
    }
}

extension Aether_V1_TokenInfo {
    init(_ info: TokenInfo) {
        self.init()
        id = info.id
        tenant = info.tenant
        role = Aether_V1_Role(info.role)
        if let label = info.label { self.label = label }
        createdAt = Google_Protobuf_Timestamp(date: info.createdAt)
    }
}

extension Aether_V1_BatchChange {
    /// The engine's change; INVALID_ARGUMENT for an unknown operation.
    func change() throws(APIError) -> BatchChange {
        let operation: BatchChange.Operation
        switch op {
        case .mkdir: operation = .mkdir
        case .remove: operation = .remove
        case .write: operation = .write
        case .chmod: operation = .chmod
        case .times: operation = .times
        case .unspecified, .UNRECOGNIZED: throw APIError.badRequest("a batch change needs an op: mkdir, remove, write, chmod or times")
        }
        return BatchChange(
            op: operation, path: path, mode: hasMode ? mode : nil, mtime: hasMtime ? mtime : nil, atime: hasAtime ? atime : nil,
            data: hasData ? data : nil, ctime: hasCtime ? ctime : nil)
    }
}

extension Aether_V1_BatchOutcome {
    init(_ outcome: BatchOutcome) {
        self.init()
        path = outcome.path
        if let stat = outcome.stat { self.stat = Aether_V1_FileStat(stat) }
        if let code = outcome.code { self.code = code }
        if let message = outcome.message { self.message = message }
    }
}

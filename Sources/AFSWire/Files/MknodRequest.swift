import AFSCore

/// `POST /v1/sessions/{id}/mknod`: a FIFO, socket or device node (metadata only).
public struct MknodRequest: WireModel, Equatable {
    public var path: String
    public var kind: EntryKind
    public var mode: UInt32?
    public var rdev: UInt64?
    public init(path: String, kind: EntryKind, mode: UInt32? = nil, rdev: UInt64? = nil) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.rdev = rdev
    }
}

/// `POST /v1/snapshots`: name a session's current tree.
public struct SnapshotRequest: WireModel, Equatable {
    public var session: String
    public var name: String

    public init(session: String, name: String) {
        self.session = session
        self.name = name
    }
}

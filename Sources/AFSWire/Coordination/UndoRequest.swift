/// `POST /v1/sessions/{id}/undo`: revert one actor's changes since a checkpoint (default: the latest).
public struct UndoRequest: WireModel, Equatable {
    public var actor: String
    public var since: String?
    public init(actor: String, since: String? = nil) {
        self.actor = actor
        self.since = since
    }
}

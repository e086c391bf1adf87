/// `POST /v1/sessions/{id}/restore`: the checkpoint to go back to.
public struct RestoreRequest: WireModel, Equatable {
    public var checkpoint: String
    public init(checkpoint: String) { self.checkpoint = checkpoint }
}

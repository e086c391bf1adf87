/// `POST /v1/sessions/{id}/checkpoints` (the body is optional).
public struct CheckpointRequest: WireModel, Equatable {
    public var label: String?
    public init(label: String? = nil) { self.label = label }
}

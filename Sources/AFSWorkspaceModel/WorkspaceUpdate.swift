/// What `PATCH /v1/workspaces/{id}` takes: a hardware change and/or a new idle timeout.
public struct WorkspaceUpdate: Sendable, Codable, Equatable {
    public var hardware: HardwareUpdate?
    public var idleTimeout: Int?

    public init(hardware: HardwareUpdate?, idleTimeout: Int?) {
        self.hardware = hardware
        self.idleTimeout = idleTimeout
    }

    enum CodingKeys: String, CodingKey {
        case hardware
        case idleTimeout = "idle_timeout"
    }
}

/// What `PATCH /v1/workspaces/{id}` takes: a hardware change, a new idle timeout, and/or a new
/// base image (a rebase: the workspace's changes stay, on top of the new base).
public struct WorkspaceUpdate: Sendable, Codable, Equatable {
    public var hardware: HardwareUpdate?
    public var idleTimeout: Int?
    /// A base image version, `current`, or `minimal`; stopped workspaces only.
    public var image: String?

    public init(hardware: HardwareUpdate?, idleTimeout: Int?, image: String? = nil) {
        self.hardware = hardware
        self.idleTimeout = idleTimeout
        self.image = image
    }

    enum CodingKeys: String, CodingKey {
        case hardware, image
        case idleTimeout = "idle_timeout"
    }
}

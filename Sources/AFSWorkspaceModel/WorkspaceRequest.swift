import Foundation

/// What `POST /v1/workspaces` takes.
public struct WorkspaceRequest: Sendable, Codable, Equatable {
    public var project: String
    public var hardware: WorkspaceHardware
    public var idleTimeout: Int?

    public init(project: String, hardware: WorkspaceHardware = WorkspaceHardware(), idleTimeout: Int? = nil) {
        self.project = project
        self.hardware = hardware
        self.idleTimeout = idleTimeout
    }

    enum CodingKeys: String, CodingKey {
        case project, hardware
        case idleTimeout = "idle_timeout"
    }
}

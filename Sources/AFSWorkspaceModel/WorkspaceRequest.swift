import Foundation

/// What `POST /v1/workspaces` takes.
public struct WorkspaceRequest: Sendable, Codable, Equatable {
    public var project: String
    public var hardware: WorkspaceHardware
    public var idleTimeout: Int?
    /// The non-root user with sudo that `aether workspace ssh` logs in as (default `aether` on a base
    /// image; `root` for none).
    public var user: String?
    /// The base image: a version, `current` (the default when the host has one) or `minimal` (the
    /// busybox root in the initramfs).
    public var image: String?

    public init(project: String, hardware: WorkspaceHardware = WorkspaceHardware(), idleTimeout: Int? = nil, user: String? = nil, image: String? = nil) {
        self.project = project
        self.hardware = hardware
        self.idleTimeout = idleTimeout
        self.user = user
        self.image = image
    }

    enum CodingKeys: String, CodingKey {
        case project, hardware, user, image
        case idleTimeout = "idle_timeout"
    }
}

import Foundation

/// One transition or notable happening in a workspace's life.
public struct WorkspaceEvent: Sendable, Codable, Equatable {
    public var seq: Int64
    public var workspace: String
    public var at: Date
    public var from: WorkspaceStatus?
    public var to: WorkspaceStatus?
    /// Machine-readable cause: `user`, `idle`, `boot_deadline`, `stop_deadline`, `exited`, `adopted`,
    /// `controller_restart`, `created`, `updated`, `deleted`, `ready`.
    public var reason: String
    public var detail: String?

    public init(seq: Int64, workspace: String, at: Date, from: WorkspaceStatus?, to: WorkspaceStatus?, reason: String, detail: String?) {
        self.seq = seq
        self.workspace = workspace
        self.at = at
        self.from = from
        self.to = to
        self.reason = reason
        self.detail = detail
    }
}

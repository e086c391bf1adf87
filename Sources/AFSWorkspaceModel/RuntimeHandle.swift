import Foundation

/// How to reach a runtime; persisted so a restarted controller can adopt it.
public struct RuntimeHandle: Sendable, Codable, Equatable {
    /// The process that is the VM (QEMU) or the sandbox's pid 1 (bwrap).
    public var pid: Int32
    public var startedAt: Date
    /// Host port forwarded to the guest's SSH server.
    public var sshPort: Int?
    /// `kvm` or `tcg` for QEMU.
    public var accelerator: String?
    /// Helper processes started beside it (virtiofsd, the sandbox's launcher).
    public var helpers: [Int32]

    public init(pid: Int32, startedAt: Date, sshPort: Int? = nil, accelerator: String? = nil, helpers: [Int32] = []) {
        self.pid = pid
        self.startedAt = startedAt
        self.sshPort = sshPort
        self.accelerator = accelerator
        self.helpers = helpers
    }

    enum CodingKeys: String, CodingKey {
        case pid, accelerator, helpers
        case startedAt = "started_at"
        case sshPort = "ssh_port"
    }
}

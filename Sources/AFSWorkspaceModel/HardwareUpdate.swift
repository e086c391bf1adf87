/// A partial hardware change (PATCH): nil fields keep their value.
public struct HardwareUpdate: Sendable, Codable, Equatable {
    public var cpuKind: WorkspaceHardware.CPUKind?
    public var cpus: Int?
    public var memoryMB: Int?
    public var volumeSizeGB: Int?
    public var gpuKind: String?

    public init(cpuKind: WorkspaceHardware.CPUKind? = nil, cpus: Int? = nil, memoryMB: Int? = nil, volumeSizeGB: Int? = nil, gpuKind: String? = nil) {
        self.cpuKind = cpuKind
        self.cpus = cpus
        self.memoryMB = memoryMB
        self.volumeSizeGB = volumeSizeGB
        self.gpuKind = gpuKind
    }

    public func applied(to h: WorkspaceHardware) -> WorkspaceHardware {
        var h = h
        if let cpuKind { h.cpuKind = cpuKind }
        if let cpus { h.cpus = cpus }
        if let memoryMB { h.memoryMB = memoryMB }
        if let volumeSizeGB { h.volumeSizeGB = volumeSizeGB }
        if let gpuKind { h.gpuKind = gpuKind.isEmpty ? nil : gpuKind }
        return h
    }

    /// The same field names as a full preset.
    typealias CodingKeys = WorkspaceHardware.CodingKeys
}

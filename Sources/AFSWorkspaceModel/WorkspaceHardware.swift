/// The hardware preset of a workspace: settable at create, updatable while stopped.
public struct WorkspaceHardware: Sendable, Codable, Equatable {
    /// `shared` vCPUs time-share host cores; `performance` asks for dedicated ones (pinned when the
    /// host can; on hosts without spare cores it behaves like `shared`, and says so in events).
    public enum CPUKind: String, Sendable, Codable, CaseIterable {
        case shared
        case performance
    }

    public var cpuKind: CPUKind
    public var cpus: Int
    public var memoryMB: Int
    public var volumeSizeGB: Int
    /// A GPU model to pass through; refused where the host has none (microVMs have no PCI).
    public var gpuKind: String?

    public static let cpuRange = 1...8
    public static let memoryRange = 256...16384
    public static let volumeRange = 1...1024

    public init(cpuKind: CPUKind = .shared, cpus: Int = 2, memoryMB: Int = 2048, volumeSizeGB: Int = 10, gpuKind: String? = nil) {
        self.cpuKind = cpuKind
        self.cpus = cpus
        self.memoryMB = memoryMB
        self.volumeSizeGB = volumeSizeGB
        self.gpuKind = gpuKind
    }

    /// Refuses values outside the valid ranges, naming the range so the caller can fix the request.
    public func validate(gpuAvailable: [String] = []) throws(WorkspaceError) {
        guard WorkspaceHardware.cpuRange.contains(cpus) else {
            throw WorkspaceError(.invalidArgument, "cpus must be between 1 and 8 (got \(cpus))")
        }
        guard WorkspaceHardware.memoryRange.contains(memoryMB) else {
            throw WorkspaceError(.invalidArgument, "memory_mb must be between 256 and 16384 (got \(memoryMB))")
        }
        guard WorkspaceHardware.volumeRange.contains(volumeSizeGB) else {
            throw WorkspaceError(.invalidArgument, "volume_size_gb must be between 1 and 1024 (got \(volumeSizeGB))")
        }
        if let gpuKind {
            guard gpuAvailable.contains(gpuKind) else {
                let have = gpuAvailable.isEmpty ? "this host has no GPU that can be passed through" : "available: \(gpuAvailable.joined(separator: ", "))"
                throw WorkspaceError(.unavailable, "gpu_kind \(gpuKind) cannot be provided: \(have); omit gpu_kind")
            }
        }
    }

    /// `2cpu/2048mb`, the HARDWARE column of `aether workspace list`.
    public var summary: String { "\(cpus)cpu/\(memoryMB)mb" }

    enum CodingKeys: String, CodingKey {
        case cpus
        case cpuKind = "cpu_kind"
        case memoryMB = "memory_mb"
        case volumeSizeGB = "volume_size_gb"
        case gpuKind = "gpu_kind"
    }
}

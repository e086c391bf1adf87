/// When the mount's changes reach the service.
public enum WritePolicy: String, Sendable, Codable, CaseIterable {
    /// `close`, `unlink`, `mkdir` and `rmdir` return once the mount has the change; worker threads
    /// send it to the service moments later, many at a time (``WriteBack``). `fsync` returns once
    /// the file is durable at the service, and `aether sync`, a live checkpoint and unmount wait
    /// for everything queued: a local disk's contract, where `close` promises nothing durable.
    case writeBack = "write-back"
    /// Every change is durable at the service, and visible to its other clients, before the call
    /// that made it returns (`aether mount --sync-close`): a round trip per `close` and `unlink`.
    case synchronous
}

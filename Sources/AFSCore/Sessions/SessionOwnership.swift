/// Which serving process may change a session, when several processes share one catalog.
///
/// The engine keeps a session's unfolded writes in memory (its overlay) beside their journal,
/// so exactly one process at a time may hold a session open for writing: two overlays of one
/// session would each miss the other's writes. A deployment with several replicas gives
/// ``AetherStore/open(at:options:chunks:catalog:journals:ownership:)`` an ownership that hands
/// each session to one live process at a time; the embedded store, owned whole by one process
/// (its directory lock), needs none.
///
/// A claim carries a *fencing epoch*, raised by every change of owner. The backend that keeps
/// journals and session rows refuses a write made under an epoch that is no longer current, so
/// a process that lost a session (it was taken as dead, then came back) can never overwrite the
/// new owner's work, even before it notices.
public protocol SessionOwnership: Sendable {
    /// Where the session is served, making this process its owner when no live process owns it
    /// (or confirming that it is). Claiming waits for writes committing under an earlier epoch,
    /// so whatever the previous owner acknowledged is in the journal the new owner replays.
    func place(_ session: String) throws(AFSError) -> SessionPlacement
    /// Whether this process still holds the session under `epoch`: a local check, no I/O. It
    /// turns false when the process learns it lost its claims (its link to the shared catalog
    /// dropped, so others may have taken them over).
    func holds(_ session: String, epoch: UInt64) -> Bool
    /// Gives the session up (deleted, or this process stopping).
    func release(_ session: String)
    /// Runs a garbage collection as the only process collecting, elected through the shared
    /// catalog, while every other live process keeps serving.
    ///
    /// The collector calls `beginHere` (its own epoch: the records that exist now are the only
    /// ones it may delete, and no write of its own relies on them from now on), then has every
    /// other live process do the same through its ``participate(join:leave:)`` handlers, which
    /// also wait for writes in flight there and report the chunks of uploads in progress, and
    /// only then calls `body` with those reported chunks (roots of the collection). The others
    /// leave their epoch when it ends. Throws ``AFSError/Code/conflict`` when another process
    /// is collecting, or a live process does not join in time (naming it).
    func collectingGarbage<R>(beginHere: () -> Void, _ body: (_ reported: [ChunkID]) throws(AFSError) -> R) throws(AFSError) -> R
    /// Registers what this process does when another one collects garbage: `join` (stop relying
    /// on records the collection may delete, after the writes in flight; return the chunks of
    /// uploads in progress) and `leave` (the collection ended). A store registers once, at open;
    /// if a collection is running then, `join` is called before this returns.
    func participate(join: @escaping @Sendable () -> [ChunkID], leave: @escaping @Sendable () -> Void)
}

/// Where a session is served, among processes sharing one catalog.
public enum SessionPlacement: Sendable, Equatable {
    /// By this process, under this fencing epoch.
    case here(epoch: UInt64)
    /// By another live process, reachable at `address` (`http://HOST:PORT`) and, over gRPC, at
    /// `grpcAddress` (`HOST:PORT`; empty when it has none).
    case elsewhere(owner: String, address: String, grpcAddress: String)
    /// Nowhere: the session does not exist.
    case missing
}

extension SessionOwnership {
    /// Claims the session for this process and returns the claim's fencing epoch (0 for a
    /// session that does not exist). Throws ``AFSError/Code/unavailable`` naming the owner when
    /// another live process holds it.
    public func claim(_ session: String) throws(AFSError) -> UInt64 {
        switch try place(session) {
        case .here(let epoch): return epoch
        case .missing: return 0
        case .elsewhere(let owner, let address, _):
            throw AFSError(
                .unavailable, "session \(session) is served by replica \(owner) at \(address); send the request there or through the load balancer")
        }
    }
}

/// `POST /v1/sessions/{id}/locks`: a lease on a path (or everything below it, with `prefix`).
public struct LockRequest: WireModel, Equatable {
    public var path: String
    public var exclusive: Bool?
    public var prefix: Bool?
    /// Seconds the lease lives unless renewed (default 60).
    public var ttl: Double?
    /// Seconds to wait for a conflicting lease to go (default 0: fail at once).
    public var wait: Double?
    /// Who holds it (default: the caller's X-AFS-Actor or tenant).
    public var holder: String?

    public init(path: String, exclusive: Bool? = nil, prefix: Bool? = nil, ttl: Double? = nil, wait: Double? = nil, holder: String? = nil) {
        self.path = path
        self.exclusive = exclusive
        self.prefix = prefix
        self.ttl = ttl
        self.wait = wait
        self.holder = holder
    }
}

/// `POST /v1/sessions/{id}/locks/{token}/renew` (the body is optional).
public struct RenewRequest: WireModel, Equatable {
    /// Seconds from now (default 60).
    public var ttl: Double?
    public init(ttl: Double? = nil) { self.ttl = ttl }
}

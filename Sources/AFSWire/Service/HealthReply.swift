/// `GET /v1/health`.
public struct HealthReply: WireModel, Equatable {
    public var status: String
    public var version: String
    public var uptimeSeconds: Int

    enum CodingKeys: String, CodingKey {
        case status, version
        case uptimeSeconds = "uptime_seconds"
    }

    public init(status: String, version: String, uptimeSeconds: Int) {
        self.status = status
        self.version = version
        self.uptimeSeconds = uptimeSeconds
    }
}

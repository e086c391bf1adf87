/// `GET /v1/analytics`: forks, dedup ratio and activity over time.
public struct AnalyticsReport: WireModel, Equatable {
    public struct Minute: WireModel, Equatable {
        /// Start of the minute, seconds since 1970.
        public var minute: Int
        public var requests: Int
        public init(minute: Int, requests: Int) {
            self.minute = minute
            self.requests = requests
        }
        public static var wireName: String { "RequestsInMinute" }
    }

    public var sessions: Int
    public var forks: Int
    public var dedupRatio: Double
    /// `YYYY-MM-DD` (UTC) → sessions created that day.
    public var sessionsCreatedPerDay: [String: Int]
    /// The last 120 minutes with requests, oldest first.
    public var requestsPerMinute: [Minute]

    enum CodingKeys: String, CodingKey {
        case sessions, forks
        case dedupRatio = "dedup_ratio"
        case sessionsCreatedPerDay = "sessions_created_per_day"
        case requestsPerMinute = "requests_per_minute"
    }

    public init(sessions: Int, forks: Int, dedupRatio: Double, sessionsCreatedPerDay: [String: Int], requestsPerMinute: [Minute]) {
        self.sessions = sessions
        self.forks = forks
        self.dedupRatio = dedupRatio
        self.sessionsCreatedPerDay = sessionsCreatedPerDay
        self.requestsPerMinute = requestsPerMinute
    }
}

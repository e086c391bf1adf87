import AFSCore
import AFSWire
import Foundation

/// What `GET /v1/health` says about an afs-server, with what the client measured on the way:
/// for `aether status` and `aether doctor`.
public struct ServerHealth: Sendable, Codable, Equatable {
    /// What the server reports about itself (`ok` when healthy); `unknown` when its answer did not decode.
    public var status: String
    /// The server's version, or `unknown` when its answer did not decode.
    public var version: String
    /// Seconds since the server started, when it says.
    public var uptimeSeconds: Int?
    /// The server's `Date` header (one-second resolution), when it sent one.
    public var serverDate: Date?
    /// Server time minus this machine's time at the request's midpoint, in seconds; positive when
    /// the server is ahead. Good to about a second (the header's resolution).
    public var clockSkewSeconds: Double?
    /// Seconds the health request took, as this client measured it.
    public var roundTripSeconds: Double

    enum CodingKeys: String, CodingKey {
        case status, version
        case uptimeSeconds = "uptime_seconds"
        case serverDate = "server_date"
        case clockSkewSeconds = "clock_skew_seconds"
        case roundTripSeconds = "round_trip_seconds"
    }

    /// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

extension RemoteStore {
    /// Asks the server's open health route (no token needed) and times the round trip.
    public func health() throws(AFSError) -> ServerHealth {
        let before = Date()
        let start = ContinuousClock.now
        let reply = try send(Call(.GET, "/v1/health"))
        let elapsed = ContinuousClock.now - start
        let midpoint = before.addingTimeInterval(Double(elapsed.components.seconds) / 2 + Double(elapsed.components.attoseconds) / 2e18)
        let answer = try? RemoteStore.decoder.decode(HealthReply.self, from: reply.body)
        let serverDate = reply.headers.first(name: "Date").flatMap(ServerHealth.parseHTTPDate)
        return ServerHealth(
            status: answer?.status ?? "unknown",
            version: answer?.version ?? "unknown",
            uptimeSeconds: answer?.uptimeSeconds,
            serverDate: serverDate,
            // The header truncates to the second: compare against the midpoint, give or take 0.5 s.
            clockSkewSeconds: serverDate.map { $0.timeIntervalSince(midpoint) + 0.5 },
            roundTripSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// This client's version, as it sends it in `User-Agent`.
    public static var clientVersion: String { version }
}

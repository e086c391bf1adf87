import AFSClient
import AFSCore
import Foundation

/// `[logging]` in config.toml: how a mount writes its log lines and where it serves metrics.
///
/// ```toml
/// [logging]
/// format = "json"                 # or "text" (the default)
/// metrics_addr = "127.0.0.1:9464" # Prometheus text on GET /metrics; "" or "off" disables; port 0 picks one
/// ```
public struct LoggingConfiguration: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable {
        /// `2026-01-02T03:04:05.678Z aether mount SESSION: message`
        case text
        /// One JSON object per line: `{"time", "level", "session", "message"}`, for log shippers.
        case json
    }

    public var format: Format
    /// Nil: no metrics endpoint.
    public var metricsAddress: String?

    public static let defaultMetricsAddress = "127.0.0.1:9464"

    public init(format: Format = .text, metricsAddress: String? = LoggingConfiguration.defaultMetricsAddress) {
        self.format = format
        self.metricsAddress = metricsAddress
    }

    public static func load(_ config: ClientConfiguration) throws(AFSError) -> LoggingConfiguration {
        var result = LoggingConfiguration()
        if let raw = config["logging.format"] {
            guard let format = Format(rawValue: raw) else {
                throw AFSError(.invalidArgument, "[logging] format must be \"text\" or \"json\", not \"\(raw)\"")
            }
            result.format = format
        }
        if let raw = config["logging.metrics_addr"] {
            if raw.isEmpty || raw == "off" {
                result.metricsAddress = nil
            } else {
                _ = try MetricsEndpoint.parse(raw)
                result.metricsAddress = raw
            }
        }
        return result
    }
}

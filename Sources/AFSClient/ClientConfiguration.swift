import AFSConfig
import AFSCore
import Foundation

/// Where `aether` finds its settings: `~/.config/aether/config.toml` (or `$AETHER_CONFIG`, or
/// `$XDG_CONFIG_HOME/aether/config.toml`), a TOML file shared by the CLI and the mount:
///
/// ```toml
/// [bridge]
/// server_endpoint = "http://127.0.0.1:8787"
/// token = "afs_…"
/// ```
public struct ClientConfiguration: Sendable {
    /// The file's values as `section.key`; empty when there is no file.
    public var values: [String: String]
    /// The file read, if any.
    public var path: String?

    /// A configuration of the given `section.key` values, as if read from `path`; empty by default.
    public init(values: [String: String] = [:], path: String? = nil) {
        self.values = values
        self.path = path
    }

    /// The value of a `section.key` setting (`bridge.token`), or nil when the file does not set it.
    public subscript(key: String) -> String? { values[key] }

    /// The default file's path for this environment.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit = environment["AETHER_CONFIG"], !explicit.isEmpty { return explicit }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/aether/config.toml" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.config/aether/config.toml"
    }

    /// Reads the config file; a missing file is an empty configuration, a malformed one an error
    /// naming the line.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(AFSError) -> ClientConfiguration {
        let path = defaultPath(environment: environment)
        guard FileManager.default.fileExists(atPath: path) else { return ClientConfiguration() }
        do {
            return ClientConfiguration(values: try ConfigFile(path: path).values, path: path)
        } catch {
            throw AFSError(.invalidArgument, "\(path): \(error)")
        }
    }
}

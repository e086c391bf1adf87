/// A listen or connect address written `HOST:PORT`: `127.0.0.1:8787`, `localhost:0`,
/// `[::1]:8787` (an IPv6 host in brackets, as in URLs). The one parser of such addresses for
/// afs-server, afs-vmd and the mount's metrics endpoint.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// Without brackets: `::1`, not `[::1]`.
    public var host: String
    /// 0 asks the system for a free port.
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text`; nil when it is not HOST:PORT with a host and a port in 0…65535. An IPv6
    /// host must be bracketed (otherwise its own colons make the port ambiguous).
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return nil }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil
        }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// `HOST:PORT`, with an IPv6 host in brackets.
    public var description: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}

import AFSClient
import AFSCore
import AFSTLS
import AFSMount
import ArgumentParser
import Foundation

/// `aether doctor`: checks what mounting and talking to a store need, each with the fix.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this machine's setup: FUSE, config, store or server, token, clock, cache, versions.",
        discussion: """
            Prints one line per check: `✓ name: detail`, `⚠ name: detail — fix: …` (works, but look at it)
            or `✗ name: detail — fix: …`. Exits 1 when any check fails (✗), 0 otherwise. The store is the one
            --store/--endpoint (or the environment, or config.toml) names; the clock is compared with the
            server's Date header (a warning past 5 s: leases and changefeed times come from the server).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Cache directory to check (default: [cache] dir).", valueName: "DIR"))
    var cacheDirectory: String?

    struct Check: Encodable {
        enum Status: String, Encodable {
            case ok, warn, fail
        }

        var name: String
        var status: Status
        var detail: String
        var fix: String?

        static func ok(_ name: String, _ detail: String) -> Check { Check(name: name, status: .ok, detail: detail) }
        static func warn(_ name: String, _ detail: String, fix: String) -> Check { Check(name: name, status: .warn, detail: detail, fix: fix) }
        static func fail(_ name: String, _ detail: String, fix: String) -> Check { Check(name: name, status: .fail, detail: detail, fix: fix) }

        var line: String {
            let mark = status == .ok ? "✓" : status == .warn ? "⚠" : "✗"
            return "\(mark) \(name): \(detail)" + (fix.map { " — fix: \($0)" } ?? "")
        }
    }

    /// Largest tolerated difference between this machine's clock and the server's.
    static let clockTolerance = 5.0

    func run() throws {
        var checks = [DoctorCommand.fuse()]
        var config = ClientConfiguration()
        do {
            config = try ClientConfiguration.load()
            checks.append(.ok("config", config.path.map { "read \($0)" } ?? "no file at \(ClientConfiguration.defaultPath()); using defaults"))
        } catch {
            checks.append(.fail("config", error.message, fix: "correct the line named, or point $AETHER_CONFIG at another file"))
        }
        checks += DoctorCommand.store(global)
        checks.append(DoctorCommand.cache(config, override: cacheDirectory))
        checks += DoctorCommand.mounts()
        let failed = checks.contains { $0.status == .fail }
        if global.json {
            print(Output.json(Report(ok: !failed, checks: checks)))
        } else {
            print(checks.map(\.line).joined(separator: "\n"))
        }
        if failed { throw ExitCode(1) }
    }

    struct Report: Encodable {
        var ok: Bool
        var checks: [Check]
    }

    static func fuse() -> Check {
        if let problem = FUSEMount.availability() {
            return .fail("fuse", problem, fix: "install fuse3 (apt-get install fuse3 libfuse3-3) and give this user /dev/fuse (containers: --device /dev/fuse --cap-add SYS_ADMIN)")
        }
        return .ok("fuse", "/dev/fuse opens; fusermount3 at \(FUSEMount.fusermount() ?? "?")")
    }

    /// How long before expiry a server certificate is reported as a failure.
    static let certificateWarning: TimeInterval = 7 * 86400

    /// For an https:// endpoint, the certificate the server presents (read without trusting it,
    /// so a refused one is still described): subject, issuer and expiry; a failure when it has
    /// expired or expires within ``certificateWarning``. Nil for http:// endpoints.
    static func certificate(_ endpoint: String, now: Date = Date()) -> Check? {
        guard let url = URL(string: endpoint), url.scheme == "https", let host = url.host else { return nil }
        let port = url.port ?? 443
        let summary: CertificateSummary
        do {
            summary = try Blocking.run { try await TLSProbe.serverCertificate(host: host, port: port) }
        } catch {
            return .fail("tls", "no certificate from \(host):\(port): \((error as? TLSError)?.message ?? "\(error)")", fix: "check that the server serves TLS on that port")
        }
        let expiry = ISO8601DateFormatter().string(from: summary.notValidAfter)
        let days = summary.notValidAfter.timeIntervalSince(now) / 86400
        let detail = "certificate \(summary.subject), issued by \(summary.issuer), for \(summary.names), expires \(expiry)"
        if days < 0 {
            return .fail("tls", "\(detail): expired", fix: "renew the server's certificate, then send afs-server SIGHUP to load it")
        }
        if summary.notValidAfter.timeIntervalSince(now) < certificateWarning {
            return .fail("tls", "\(detail): expires in \(String(format: "%.1f", days)) days", fix: "renew the server's certificate within the week, then send afs-server SIGHUP to load it")
        }
        return .ok("tls", "\(detail) (in \(Int(days)) days)")
    }

    /// The store or server: reachable, token accepted, clock, versions.
    static func store(_ global: GlobalOptions) -> [Check] {
        let target: GlobalOptions.Target
        do {
            target = try global.target()
        } catch {
            return [.fail("store", error.message, fix: "pass --store DIR or --endpoint URL, or set [bridge] server_endpoint in \(ClientConfiguration.defaultPath())")]
        }
        let client = Check.ok("aether", "version \(RemoteStore.clientVersion)")
        switch target {
        case .embedded(let directory):
            guard FileManager.default.fileExists(atPath: directory) else {
                return [client, .warn("store", "embedded store \(directory) does not exist yet", fix: "`aether session create --blank` creates it, or fix --store / AFS_STORE")]
            }
            if let holder = MountRegistry.standard().live().first(where: { $0.transport == "embedded" && MountRegistry.canonical($0.store) == MountRegistry.canonical(directory) }) {
                return [client, .ok("store", "embedded store \(directory), held by the mount at \(holder.mountpoint) (pid \(holder.pid))")]
            }
            do {
                let store = try AetherStore.open(at: directory)
                defer { try? store.close() }
                let count = try store.sessions(status: nil).count
                return [client, .ok("store", "embedded store \(directory) opens (\(count) session\(count == 1 ? "" : "s"))")]
            } catch {
                if error.code == .storeLocked {
                    return [client, .warn("store", error.message, fix: "another process holds the store; wait for it or use an afs-server")]
                }
                return [client, .fail("store", "embedded store \(directory): \(error.message)", fix: "check the directory's permissions, or `aether store verify`")]
            }
        case .remote(let endpoint, let token, let trust):
            let remote: RemoteStore
            do {
                remote = try RemoteStore(endpoint: endpoint, token: token, timeout: 10, connectTimeout: 3, trust: trust)
            } catch {
                return [client, .fail("endpoint", error.message, fix: "give --endpoint http://HOST:PORT or https://HOST:PORT")]
            }
            var prefix = [client]
            if let tls = certificate(endpoint) { prefix.append(tls) }
            let health: ServerHealth
            do {
                health = try remote.health()
            } catch {
                if error.code == .untrustedServer {
                    return prefix + [
                        .fail("endpoint", error.message, fix: "pass the CA that signed the server's certificate with --ca-cert FILE (AETHER_CA_CERT, [bridge] ca_cert), or fix the certificate on the server")
                    ]
                }
                return prefix + [.fail("endpoint", error.message, fix: "start afs-server (scripts/run.sh) or fix --endpoint / AFS_AETHER_SERVER_ENDPOINT / [bridge] server_endpoint")]
            }
            var checks = prefix + [Check.ok("endpoint", "afs-server at \(endpoint) answered in \(String(format: "%.0f", health.roundTripSeconds * 1000)) ms (status \(health.status))")]
            if token == nil {
                checks.append(.fail("token", "no token given", fix: "pass --token, set AFS_TOKEN, or [bridge] token in \(ClientConfiguration.defaultPath())"))
            } else {
                do {
                    let count = try remote.sessions(status: nil).count
                    checks.append(.ok("token", "accepted (\(count) session\(count == 1 ? "" : "s") visible)"))
                } catch {
                    checks.append(.fail("token", error.message, fix: "ask an admin for a token (`aether token create`) and pass it with --token or AFS_TOKEN"))
                }
            }
            if let skew = health.clockSkewSeconds {
                let detail = String(format: "this machine is %.1f s %@ the server", abs(skew), skew >= 0 ? "behind" : "ahead of")
                checks.append(
                    abs(skew) > clockTolerance
                        ? .warn("clock", detail, fix: "synchronise this machine's clock (NTP: timedatectl set-ntp true)")
                        : .ok("clock", detail))
            } else {
                checks.append(.warn("clock", "the server sent no Date header; cannot compare clocks", fix: "upgrade afs-server"))
            }
            let same = health.version.split(separator: ".").prefix(2) == RemoteStore.clientVersion.split(separator: ".").prefix(2)
            checks.append(
                same
                    ? .ok("versions", "aether \(RemoteStore.clientVersion), afs-server \(health.version)")
                    : .warn("versions", "aether \(RemoteStore.clientVersion), afs-server \(health.version)", fix: "use matching versions of aether and afs-server"))
            return checks
        }
    }

    /// The cache directory: writable, and room on its disk.
    static func cache(_ config: ClientConfiguration, override: String?) -> Check {
        var configuration: ContentCache.Configuration
        do {
            configuration = try ContentCache.Configuration.load(config)
        } catch {
            return .fail("cache", error.message, fix: "correct [cache] in \(config.path ?? ClientConfiguration.defaultPath())")
        }
        if let override { configuration.directory = override }
        let directory = configuration.directory
        // Checked without creating anything: the directory itself if it exists, else the nearest
        // existing parent (the first mount creates the rest).
        var existing = directory
        while !FileManager.default.fileExists(atPath: existing), existing != "/" { existing = (existing as NSString).deletingLastPathComponent }
        guard access(existing, W_OK | X_OK) == 0 else {
            let what = existing == directory ? "\(directory) is not writable" : "\(directory) cannot be created: \(existing) is not writable"
            return .fail("cache", "\(what) (\(String(cString: strerror(errno))))", fix: "fix the permissions or set [cache] dir to a writable directory")
        }
        var st = statvfs()
        let free = statvfs(existing, &st) == 0 ? UInt64(st.f_bavail) * UInt64(st.f_frsize) : 0
        let used = ContentCache.measure(configuration).bytes
        let state = existing == directory ? "writable" : "to be created (\(existing) is writable)"
        let detail = "\(directory) \(state); \(Output.bytes(Int64(clamping: free))) free; using \(Output.bytes(Int64(clamping: used))) of \(Output.bytes(Int64(clamping: configuration.maxBytes)))"
        if free < 1 << 30 {
            return .warn("cache", detail, fix: "free space on that disk or move [cache] dir: mounts fetch whole files there")
        }
        if free + used < configuration.maxBytes {
            return .warn("cache", detail, fix: "the disk cannot hold [cache] max_bytes; lower it below \(Output.bytes(Int64(clamping: free + used)))")
        }
        return .ok("cache", detail)
    }

    /// Live mounts answer on their control sockets.
    static func mounts() -> [Check] {
        let mounts = MountRegistry.standard().live()
        if mounts.isEmpty { return [.ok("mounts", "none live")] }
        return mounts.map { (m) -> Check in
            do throws(AFSError) {
                _ = try ControlProtocol.call(m.socket, .init(op: .metrics), timeout: 5)
                return .ok("mount", "\(m.mountpoint) (session \(m.session), pid \(m.pid)) answers")
            } catch {
                return .warn("mount", "\(m.mountpoint) (pid \(m.pid)) does not answer: \(error.message)", fix: "`aether logs \(m.mountpoint)`; `aether unmount \(m.mountpoint)` if it is stuck")
            }
        }
    }
}

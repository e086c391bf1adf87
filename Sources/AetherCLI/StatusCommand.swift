import AFSClient
import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether status`: what runs on this machine and whether the store answers.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List live mounts, the store's health and session count, and the cache's use.",
        discussion: """
            Mounts come from the registry ($XDG_RUNTIME_DIR/aether/mounts, else /tmp/aether-UID/mounts);
            the store is the one --store/--endpoint (or the environment, or config.toml) names: for an
            afs-server, GET /v1/health and the session list; for an embedded store, its session list unless
            a live mount holds it. Never fails because something is down: it reports it (exit 0).
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Cache directory (default: [cache] dir).", valueName: "DIR"))
    var cacheDirectory: String?

    struct Report: Encodable {
        struct Store: Encodable {
            var location: String?
            var transport: String?
            /// ok, unreachable, refused, locked, unconfigured, error
            var state: String
            var detail: String
            var sessions: Int?
            var health: ServerHealth?
        }

        struct Cache: Encodable {
            var directory: String
            var bytes: UInt64
            var maxBytes: UInt64
            var entries: Int

            enum CodingKeys: String, CodingKey {
                case directory, bytes, entries
                case maxBytes = "max_bytes"
            }
        }

        var mounts: [MountRecord]
        var store: Store
        var cache: Cache?
    }

    func run() throws {
        let mounts = MountRegistry.standard().live()
        var report = Report(mounts: mounts, store: StatusCommand.store(global, mounts: mounts), cache: nil)
        if var configuration = try? ContentCache.Configuration.load(try ClientConfiguration.load()) {
            if let cacheDirectory { configuration.directory = cacheDirectory }
            let usage = ContentCache.measure(configuration)
            report.cache = Report.Cache(directory: configuration.directory, bytes: usage.bytes, maxBytes: configuration.maxBytes, entries: usage.entries)
        }
        global.emit(report) { StatusCommand.text(report) }
    }

    /// The configured store's state, without ever throwing.
    static func store(_ global: GlobalOptions, mounts: [MountRecord]) -> Report.Store {
        let target: GlobalOptions.Target
        do {
            target = try global.target()
        } catch {
            return Report.Store(state: "unconfigured", detail: error.message)
        }
        switch target {
        case .embedded(let directory):
            if let holder = mounts.first(where: { $0.transport == "embedded" && MountRegistry.canonical($0.store) == MountRegistry.canonical(directory) }) {
                return Report.Store(location: directory, transport: "embedded", state: "locked", detail: "held by the mount at \(holder.mountpoint) (pid \(holder.pid))")
            }
            guard FileManager.default.fileExists(atPath: directory) else {
                return Report.Store(location: directory, transport: "embedded", state: "missing", detail: "\(directory) does not exist (a session create there makes it)")
            }
            do {
                let store = try AetherStore.open(at: directory)
                defer { try? store.close() }
                let count = try store.sessions(status: nil).count
                return Report.Store(location: directory, transport: "embedded", state: "ok", detail: "embedded store", sessions: count)
            } catch {
                return Report.Store(location: directory, transport: "embedded", state: error.code == .storeLocked ? "locked" : "error", detail: error.message)
            }
        case .remote(let endpoint, let token, let trust):
            do {
                let remote = try RemoteStore(endpoint: endpoint, token: token, timeout: 10, connectTimeout: 3, trust: trust)
                let health: ServerHealth
                do {
                    health = try remote.health()
                } catch {
                    return Report.Store(location: endpoint, transport: "remote", state: "unreachable", detail: error.message)
                }
                do {
                    let count = try remote.sessions(status: nil).count
                    return Report.Store(location: endpoint, transport: "remote", state: "ok", detail: "afs-server \(health.version)", sessions: count, health: health)
                } catch {
                    return Report.Store(
                        location: endpoint, transport: "remote", state: error.code == .forbidden ? "refused" : "error", detail: error.message, health: health)
                }
            } catch {
                return Report.Store(location: endpoint, transport: "remote", state: "error", detail: error.message)
            }
        }
    }

    static func text(_ r: Report) -> String {
        var lines: [String] = []
        lines.append("mounts    \(r.mounts.count) live")
        for m in r.mounts {
            let up = Int(Date().timeIntervalSince(m.started))
            lines.append(
                "  \(m.mountpoint)  session \(m.session)  pid \(m.pid)  \(m.transport) \(m.store)  up \(up) s"
                    + (m.metrics.map { "  metrics http://\($0)/metrics" } ?? ""))
        }
        let s = r.store
        var store = "store     \(s.location ?? "-"): \(s.state)"
        if let h = s.health { store += " (afs-server \(h.version), \(String(format: "%.0f", h.roundTripSeconds * 1000)) ms)" }
        if let n = s.sessions { store += ", \(n) session\(n == 1 ? "" : "s")" }
        if s.state != "ok" { store += " — \(s.detail)" }
        lines.append(store)
        if let c = r.cache {
            lines.append("cache     \(c.directory): \(Output.bytes(Int64(c.bytes))) of \(Output.bytes(Int64(c.maxBytes))), \(c.entries) entries")
        }
        return lines.joined(separator: "\n")
    }
}

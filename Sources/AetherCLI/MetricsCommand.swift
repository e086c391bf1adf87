import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether metrics show`: a live mount's counters, read through its control socket.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Read a live mount's counters.",
        discussion: """
            The same counters are served in Prometheus text format on the mount's [logging] metrics_addr
            (default 127.0.0.1:9464, GET /metrics): calls, errors and latency histograms per FUSE
            operation, bytes read/written by programs and downloaded/uploaded to the store, cache hits
            and misses.
            """,
        subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a mount's counters as a table (or JSON).")
        @Argument(help: "The mounted directory (default: the only live mount).") var directory: String?
        @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

        func run() throws {
            do throws(AFSError) {
                let mount = try MountRegistry.standard().find(directory)
                guard let snapshot = try ControlProtocol.call(mount.socket, .init(op: .metrics), timeout: 10).metrics else {
                    throw AFSError(.unsupportedFormat, "the mount at \(mount.mountpoint) answered without metrics")
                }
                Output.emit(snapshot, json: json) { Show.table(snapshot, mount: mount) }
            } catch {
                throw CLIError(error, json: json)
            }
        }

        static func table(_ s: MountMetrics.Snapshot, mount: MountRecord) -> String {
            func b(_ n: UInt64) -> String { Output.bytes(Int64(clamping: n)) }
            func latency(_ seconds: Double?) -> String {
                guard let seconds else { return "-" }
                if seconds.isInfinite { return "> 10 s" }
                return seconds < 0.001 ? String(format: "%.0f µs", seconds * 1e6) : String(format: "%.1f ms", seconds * 1e3)
            }
            let ratio = s.cacheHitRatio.map { String(format: "%.1f %%", $0 * 100) } ?? "-"
            var lines = [
                "mount     \(mount.mountpoint)  session \(s.session)  pid \(mount.pid)  up \(String(format: "%.1f", s.uptimeSeconds)) s",
                "cache     \(s.cacheHits) hits, \(s.cacheMisses) misses (\(ratio)); \(s.cacheEntries) entries, \(b(s.cacheBytes)) of \(b(s.cacheMaxBytes))",
                "bytes     read \(b(s.bytes.read)), written \(b(s.bytes.written)); downloaded \(b(s.bytes.downloaded)), uploaded \(b(s.bytes.uploaded))",
                "open      \(s.openFiles) file\(s.openFiles == 1 ? "" : "s")",
                "changes   \(s.changesQueued) queued, \(s.changesSent) sent, \(s.changesRefused) refused (write-back; `aether sync` waits for the queue)",
                "",
                "op".padding(toLength: 12, withPad: " ", startingAt: 0) + "calls".leftPadded(10) + "errors".leftPadded(8) + "calls/s".leftPadded(10)
                    + "mean".leftPadded(10) + "p50 ≤".leftPadded(10) + "p99 ≤".leftPadded(10),
            ]
            for (name, op) in s.operations.sorted(by: { $0.value.count > $1.value.count }) {
                let rate = s.uptimeSeconds > 0 ? Double(op.count) / s.uptimeSeconds : 0
                let mean = op.count > 0 ? op.seconds / Double(op.count) : nil
                lines.append(
                    name.padding(toLength: 12, withPad: " ", startingAt: 0) + "\(op.count)".leftPadded(10) + "\(op.errors)".leftPadded(8)
                        + String(format: "%.1f", rate).leftPadded(10) + latency(mean).leftPadded(10) + latency(op.quantile(0.5)).leftPadded(10)
                        + latency(op.quantile(0.99)).leftPadded(10))
            }
            return lines.joined(separator: "\n")
        }
    }
}

extension String {
    /// Right-aligned in `width` columns.
    func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}

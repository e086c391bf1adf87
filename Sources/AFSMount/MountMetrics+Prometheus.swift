import Foundation

extension MountMetrics.Snapshot {
    /// The Prometheus text exposition format (0.0.4): counters per operation, latency histograms
    /// with cumulative buckets, bytes each way, cache lookups and occupancy. Every series carries
    /// the session, so one Prometheus can scrape many mounts.
    public var prometheusText: String {
        let session = "session=\"\(MountMetrics.Snapshot.escape(self.session))\""
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        let names = operations.keys.sorted()
        family("aether_mount_operations_total", "counter", "FUSE calls served, by operation.")
        for op in names { out += "aether_mount_operations_total{\(session),op=\"\(op)\"} \(operations[op]!.count)\n" }
        family("aether_mount_operation_errors_total", "counter", "FUSE calls answered with an error, by operation.")
        for op in names { out += "aether_mount_operation_errors_total{\(session),op=\"\(op)\"} \(operations[op]!.errors)\n" }
        family("aether_mount_operation_duration_seconds", "histogram", "Time to serve one FUSE call, by operation.")
        for op in names {
            let o = operations[op]!
            var cumulative: UInt64 = 0
            for (i, bound) in MountMetrics.bucketBounds.enumerated() {
                cumulative += o.buckets[i]
                out += "aether_mount_operation_duration_seconds_bucket{\(session),op=\"\(op)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "aether_mount_operation_duration_seconds_bucket{\(session),op=\"\(op)\",le=\"+Inf\"} \(o.count)\n"
            out += "aether_mount_operation_duration_seconds_sum{\(session),op=\"\(op)\"} \(o.seconds)\n"
            out += "aether_mount_operation_duration_seconds_count{\(session),op=\"\(op)\"} \(o.count)\n"
        }
        family("aether_mount_bytes_total", "counter", "Bytes moved: read/written by programs, downloaded/uploaded to the service.")
        for (direction, value) in [("read", bytes.read), ("written", bytes.written), ("downloaded", bytes.downloaded), ("uploaded", bytes.uploaded)] {
            out += "aether_mount_bytes_total{\(session),direction=\"\(direction)\"} \(value)\n"
        }
        family("aether_mount_cache_hits_total", "counter", "Opens served from the local content cache.")
        out += "aether_mount_cache_hits_total{\(session)} \(cacheHits)\n"
        family("aether_mount_cache_misses_total", "counter", "Opens that fetched the content from the service.")
        out += "aether_mount_cache_misses_total{\(session)} \(cacheMisses)\n"
        family("aether_mount_cache_bytes", "gauge", "Bytes held by the content cache (shared by every mount on the machine).")
        out += "aether_mount_cache_bytes{\(session)} \(cacheBytes)\n"
        family("aether_mount_cache_max_bytes", "gauge", "The content cache's budget.")
        out += "aether_mount_cache_max_bytes{\(session)} \(cacheMaxBytes)\n"
        family("aether_mount_open_files", "gauge", "Files held open through the mount.")
        out += "aether_mount_open_files{\(session)} \(openFiles)\n"
        family("aether_mount_changes_queued", "gauge", "Changes acknowledged to programs and not yet at the service (write-back).")
        out += "aether_mount_changes_queued{\(session)} \(changesQueued)\n"
        family("aether_mount_changes_sent_total", "counter", "Queued changes sent to the service.")
        out += "aether_mount_changes_sent_total{\(session)} \(changesSent)\n"
        family("aether_mount_changes_refused_total", "counter", "Queued changes the service refused (each in the mount's log; `aether sync` reports them).")
        out += "aether_mount_changes_refused_total{\(session)} \(changesRefused)\n"
        family("aether_mount_uptime_seconds", "gauge", "Seconds since the mount started.")
        out += "aether_mount_uptime_seconds{\(session)} \(uptimeSeconds)\n"
        return out
    }

    /// Label values escape backslash, quote and newline.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

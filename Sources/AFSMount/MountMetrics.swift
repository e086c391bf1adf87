import AFSSupport
import Foundation
import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// What a mount has done since it started: calls and failures per FUSE operation with latency
/// histograms, bytes moved each way, and the content cache's hits and misses.
///
/// Recorded on every callback by ``FUSEBridge`` (so it sees exactly what the kernel asked), read
/// by the control socket (`aether metrics show`, from plain counters under one lock: a lock per
/// call costs tens of nanoseconds, far below the syscall and context switches each FUSE request
/// already pays) and by the Prometheus endpoint, through swift-metrics (`Counter`, `Timer`) backed
/// by swift-prometheus, as afs-server's metrics are. The mount has a registry of its own rather
/// than the process-wide `MetricsSystem`, so several file systems in one process (the tests) never
/// share series.
public final class MountMetrics: Sendable {
    /// Upper bounds of the latency buckets, in seconds (the last bucket, +Inf, is implicit).
    public static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// One operation's counters.
    public struct Operation: Sendable, Codable, Equatable {
        public var count: UInt64 = 0
        public var errors: UInt64 = 0
        public var seconds: Double = 0
        /// Calls per latency bucket (`bucketBounds.count + 1` entries, not cumulative).
        public var buckets: [UInt64] = Array(repeating: 0, count: MountMetrics.bucketBounds.count + 1)

        /// The latency under which `fraction` of calls finished, from the buckets' upper bounds.
        public func quantile(_ fraction: Double) -> Double? {
            guard count > 0 else { return nil }
            let goal = UInt64((Double(count) * fraction).rounded(.up))
            var seen: UInt64 = 0
            for (i, n) in buckets.enumerated() {
                seen += n
                if seen >= goal { return i < MountMetrics.bucketBounds.count ? MountMetrics.bucketBounds[i] : .infinity }
            }
            return .infinity
        }
    }

    /// Bytes moved: between the kernel and the mount, and between the mount and the service.
    public struct Bytes: Sendable, Codable, Equatable {
        /// Returned to programs by `read`.
        public var read: UInt64 = 0
        /// Accepted from programs by `write`.
        public var written: UInt64 = 0
        /// Fetched from the service into the content cache.
        public var downloaded: UInt64 = 0
        /// Published to the service (whole files).
        public var uploaded: UInt64 = 0
    }

    /// A consistent copy of every counter, as the control socket sends it.
    public struct Snapshot: Sendable, Codable {
        public var session: String
        public var started: Date
        public var uptimeSeconds: Double
        public var operations: [String: Operation]
        public var bytes: Bytes
        public var cacheHits: UInt64
        public var cacheMisses: UInt64
        public var cacheEntries: Int
        public var cacheBytes: UInt64
        public var cacheMaxBytes: UInt64
        public var openFiles: Int
        /// Write-back: changes acknowledged and not yet at the service, sent since the mount
        /// started, and refused by the service (each logged).
        public var changesQueued: Int
        public var changesSent: UInt64
        public var changesRefused: Int

        /// Hits over lookups, nil before the first open.
        public var cacheHitRatio: Double? {
            let total = cacheHits + cacheMisses
            return total == 0 ? nil : Double(cacheHits) / Double(total)
        }

        enum CodingKeys: String, CodingKey {
            case session, started, operations, bytes
            case uptimeSeconds = "uptime_seconds"
            case cacheHits = "cache_hits"
            case cacheMisses = "cache_misses"
            case cacheEntries = "cache_entries"
            case cacheBytes = "cache_bytes"
            case cacheMaxBytes = "cache_max_bytes"
            case openFiles = "open_files"
            case changesQueued = "changes_queued"
            case changesSent = "changes_sent"
            case changesRefused = "changes_refused"
        }
    }

    /// One operation's Prometheus series.
    private struct Series {
        var calls: CoreMetrics.Counter
        var errors: CoreMetrics.Counter
        var latency: Metrics.Timer
    }

    private struct State {
        var operations: [String: Operation] = [:]
        var bytes = Bytes()
        var series: [String: Series] = [:]
        /// Counts kept elsewhere (the cache, the write-back queue), as last exported: the
        /// Prometheus counters move by the difference at each scrape.
        var exported: [String: UInt64] = [:]
    }

    public let session: String
    public let started = Date()
    private let startInstant = ContinuousClock.now
    /// Taken by every FUSE request on every worker: a glibc mutex, as the node table's
    /// (``UnfairLocked``): the standard `Mutex` made it the mount's most contended lock in a first
    /// `git status` of 20,000 files (Docs/perf/profiles.md §10).
    private let state = UnfairLocked(State())
    /// Where the `/metrics` series live.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let byteCounters: [String: CoreMetrics.Counter]

    public init(session: String) {
        self.session = session
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = MountMetrics.bucketBounds.map { .nanoseconds(Int64(($0 * 1e9).rounded())) }
        self.factory = factory
        var bytes: [String: CoreMetrics.Counter] = [:]
        for direction in ["read", "written", "downloaded", "uploaded"] {
            bytes[direction] = CoreMetrics.Counter(label: "aether_mount_bytes_total", dimensions: [("session", session), ("direction", direction)], factory: factory)
        }
        byteCounters = bytes
    }

    /// Counts one call of `operation` that took `duration` and failed or not.
    func record(_ operation: String, duration: Duration, failed: Bool) {
        let seconds = duration.inSeconds
        let bucket = MountMetrics.bucketBounds.firstIndex { seconds <= $0 } ?? MountMetrics.bucketBounds.count
        let series = state.withLock { s -> Series in
            s.operations[operation, default: Operation()].count += 1
            if failed { s.operations[operation]!.errors += 1 }
            s.operations[operation]!.seconds += seconds
            s.operations[operation]!.buckets[bucket] += 1
            if let known = s.series[operation] { return known }
            let dimensions = [("session", session), ("op", operation)]
            let made = Series(
                calls: CoreMetrics.Counter(label: "aether_mount_operations_total", dimensions: dimensions, factory: factory),
                errors: CoreMetrics.Counter(label: "aether_mount_operation_errors_total", dimensions: dimensions, factory: factory),
                latency: Metrics.Timer(label: "aether_mount_operation_duration_seconds", dimensions: dimensions, factory: factory))
            s.series[operation] = made
            return made
        }
        series.calls.increment()
        if failed { series.errors.increment() }
        series.latency.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func add(read: Int = 0, written: Int = 0, downloaded: UInt64 = 0, uploaded: UInt64 = 0) {
        state.withLock { s in
            s.bytes.read += UInt64(read)
            s.bytes.written += UInt64(written)
            s.bytes.downloaded += downloaded
            s.bytes.uploaded += uploaded
        }
        for (direction, n) in [("read", UInt64(read)), ("written", UInt64(written)), ("downloaded", downloaded), ("uploaded", uploaded)] where n > 0 {
            byteCounters[direction]?.increment(by: Int64(clamping: n))
        }
    }

    /// The Prometheus text exposition (0.0.4) of every series, after bringing the ones counted
    /// elsewhere (cache, open files, write-back, uptime) up to `snapshot`.
    public func prometheusText(_ snapshot: Snapshot) -> String {
        let labels = [("session", session)]
        let counted: [(String, UInt64)] = [
            ("aether_mount_cache_hits_total", snapshot.cacheHits), ("aether_mount_cache_misses_total", snapshot.cacheMisses),
            ("aether_mount_changes_sent_total", snapshot.changesSent), ("aether_mount_changes_refused_total", UInt64(snapshot.changesRefused)),
        ]
        state.withLock { s in
            for (name, value) in counted {
                let counter = registry.makeCounter(name: name, labels: labels)
                let delta = value &- (s.exported[name] ?? 0)
                if value >= (s.exported[name] ?? 0), delta > 0 { counter.increment(by: Int64(clamping: delta)) }
                s.exported[name] = value
            }
        }
        let gauges: [(String, Double)] = [
            ("aether_mount_cache_bytes", Double(snapshot.cacheBytes)), ("aether_mount_cache_max_bytes", Double(snapshot.cacheMaxBytes)),
            ("aether_mount_open_files", Double(snapshot.openFiles)), ("aether_mount_changes_queued", Double(snapshot.changesQueued)),
            ("aether_mount_uptime_seconds", snapshot.uptimeSeconds),
        ]
        for (name, value) in gauges { registry.makeGauge(name: name, labels: labels).set(value) }
        var text: [UInt8] = []
        registry.emit(into: &text)
        return String(decoding: text, as: UTF8.self)
    }

    func snapshot(session: String, cache: ContentCache, openFiles: Int, writeBack: (queued: Int, sent: UInt64, failed: Int) = (0, 0, 0)) -> Snapshot {
        let (operations, bytes) = state.withLock { ($0.operations, $0.bytes) }
        let elapsed = ContinuousClock.now - startInstant
        let usage = cache.usage
        let lookups = cache.lookups
        return Snapshot(
            session: session, started: started,
            uptimeSeconds: elapsed.inSeconds,
            operations: operations, bytes: bytes, cacheHits: lookups.hits, cacheMisses: lookups.misses,
            cacheEntries: usage.entries, cacheBytes: usage.bytes, cacheMaxBytes: cache.configuration.maxBytes, openFiles: openFiles,
            changesQueued: writeBack.queued, changesSent: writeBack.sent, changesRefused: writeBack.failed)
    }
}

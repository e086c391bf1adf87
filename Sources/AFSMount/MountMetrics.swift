import Foundation
import Synchronization

/// What a mount has done since it started: calls and failures per FUSE operation with latency
/// histograms, bytes moved each way, and the content cache's hits and misses.
///
/// Recorded on every callback by ``FUSEBridge`` (so it sees exactly what the kernel asked), read
/// by the control socket (`aether metrics show`) and the Prometheus endpoint. One `Mutex` guards
/// plain counters: a lock per call costs tens of nanoseconds, far below the syscall and context
/// switches each FUSE request already pays.
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

    private struct State {
        var operations: [String: Operation] = [:]
        var bytes = Bytes()
    }

    public let started = Date()
    private let startInstant = ContinuousClock.now
    private let state = Mutex(State())

    public init() {}

    /// Counts one call of `operation` that took `duration` and failed or not.
    func record(_ operation: String, duration: Duration, failed: Bool) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let bucket = MountMetrics.bucketBounds.firstIndex { seconds <= $0 } ?? MountMetrics.bucketBounds.count
        state.withLock { s in
            s.operations[operation, default: Operation()].count += 1
            if failed { s.operations[operation]!.errors += 1 }
            s.operations[operation]!.seconds += seconds
            s.operations[operation]!.buckets[bucket] += 1
        }
    }

    func add(read: Int = 0, written: Int = 0, downloaded: UInt64 = 0, uploaded: UInt64 = 0) {
        state.withLock { s in
            s.bytes.read += UInt64(read)
            s.bytes.written += UInt64(written)
            s.bytes.downloaded += downloaded
            s.bytes.uploaded += uploaded
        }
    }

    func snapshot(session: String, cache: ContentCache, openFiles: Int, writeBack: (queued: Int, sent: UInt64, failed: Int) = (0, 0, 0)) -> Snapshot {
        let (operations, bytes) = state.withLock { ($0.operations, $0.bytes) }
        let elapsed = ContinuousClock.now - startInstant
        let usage = cache.usage
        let lookups = cache.lookups
        return Snapshot(
            session: session, started: started,
            uptimeSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            operations: operations, bytes: bytes, cacheHits: lookups.hits, cacheMisses: lookups.misses,
            cacheEntries: usage.entries, cacheBytes: usage.bytes, cacheMaxBytes: cache.configuration.maxBytes, openFiles: openFiles,
            changesQueued: writeBack.queued, changesSent: writeBack.sent, changesRefused: writeBack.failed)
    }
}

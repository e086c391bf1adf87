/// Space accounting of a store.
public struct StoreStats: Sendable, Codable, Equatable {
    /// Sum of the sizes of every file in every session (what full copies would cost).
    public var logicalBytes: Int64
    /// Bytes of records in the chunk log (after dedup and compression).
    public var physicalBytes: Int64
    /// Bytes of segment files in use on disk.
    public var diskBytes: Int64
    public var chunks: Int
    public var sessions: Int
    public var checkpoints: Int
    public var segments: Int
    /// Fraction of physical bytes reachable from a live root (1.0 after a full GC).
    public var liveRatio: Double
    /// logical / physical.
    public var dedupRatio: Double

    enum CodingKeys: String, CodingKey {
        case chunks, sessions, checkpoints, segments
        case logicalBytes = "logical_bytes"
        case physicalBytes = "physical_bytes"
        case diskBytes = "disk_bytes"
        case liveRatio = "live_ratio"
        case dedupRatio = "dedup_ratio"
    }
}

/// What a garbage collection did.
public struct GCReport: Sendable, Codable, Equatable {
    public var liveChunks: Int
    public var deadChunks: Int
    public var segmentsCleaned: Int
    public var chunksRelocated: Int
    public var bytesFreed: Int64

    enum CodingKeys: String, CodingKey {
        case liveChunks = "live_chunks"
        case deadChunks = "dead_chunks"
        case segmentsCleaned = "segments_cleaned"
        case chunksRelocated = "chunks_relocated"
        case bytesFreed = "bytes_freed"
    }
}

/// What `verify` found. `problems` is empty for a healthy store.
public struct VerifyReport: Sendable, Codable, Equatable {
    public var recordsChecked: Int
    public var bytesChecked: Int64
    public var treesChecked: Int
    public var problems: [String]

    enum CodingKeys: String, CodingKey {
        case problems
        case recordsChecked = "records_checked"
        case bytesChecked = "bytes_checked"
        case treesChecked = "trees_checked"
    }
}

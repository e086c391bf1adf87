/// Space accounting of a store.
public struct StoreStats: Sendable, Codable, Equatable {
    /// Sum of the sizes of every file in every session (what full copies would cost).
    public var logicalBytes: Int64
    /// Bytes of records in the chunk log (after dedup and compression).
    public var physicalBytes: Int64
    /// Bytes of segment files in use on disk.
    public var diskBytes: Int64
    /// Distinct records in the chunk log's index (file chunks, tree nodes, commits), reachable or not.
    public var chunks: Int
    /// Sessions in the catalog, whatever their status.
    public var sessions: Int
    /// Checkpoints of all sessions together.
    public var checkpoints: Int
    /// Segment files the chunk log occupies.
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
    /// Chunks reachable from a live root when the collection marked them.
    public var liveChunks: Int
    /// Records found unreachable (whether or not their space was freed in this run).
    public var deadChunks: Int
    /// Segments removed, after copying out their live records.
    public var segmentsCleaned: Int
    /// Live records copied out of cleaned segments to the head of the log.
    public var chunksRelocated: Int
    /// Bytes of dead records in the removed segments.
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
    /// Records read and checked in every segment.
    public var recordsChecked: Int
    /// Bytes of those records as stored (headers included).
    public var bytesChecked: Int64
    /// Session trees walked for missing chunks.
    public var treesChecked: Int
    /// One line per problem, naming segment and offset or session.
    public var problems: [String]

    enum CodingKeys: String, CodingKey {
        case problems
        case recordsChecked = "records_checked"
        case bytesChecked = "bytes_checked"
        case treesChecked = "trees_checked"
    }
}

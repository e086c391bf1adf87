/// Where a store keeps its content-addressed records: file chunks, tree nodes, chunk lists and
/// commit objects, each named by the SHA-256 of its bytes.
///
/// ``AetherStore`` sees only this protocol, so a backend is a conformance, not a fork of the
/// engine: the embedded segment log (`ChunkLog`) is one, S3 pack objects (AFSObjectStore's
/// `PackChunkStore`) another. A conformance must give these guarantees:
/// - `put` deduplicates by identity and is durable once a later ``sync()`` returns; a crash
///   before that may lose the record, never tear it;
/// - `get` returns exactly the bytes put, or throws (`notFound` for an unknown ID, `corrupted`
///   naming the ID and where it lives when the stored copy is damaged): damage is never served;
/// - garbage collection never deletes a record put or found by `contains` after
///   ``beginGCEpoch()``, whatever the live set says (writers run during a collection).
public protocol ChunkStore: AnyObject, Sendable {
    /// Stores a record under the SHA-256 of `bytes` and returns that ID (deduplicated: storing
    /// the same bytes again costs nothing). Not durable until ``sync()``.
    @discardableResult
    func put(_ type: RecordType, _ bytes: UnsafeRawBufferPointer) throws(AFSError) -> ChunkID
    /// The bytes of a record.
    func get(_ id: ChunkID) throws(AFSError) -> [UInt8]
    /// Whether a record is stored (durably or pending the next sync). During a collection this
    /// also keeps the record alive: a writer that deduplicates against it relies on it.
    func contains(_ id: ChunkID) -> Bool
    /// Makes every record put before the call durable; concurrent callers share the work.
    func sync() throws(AFSError)

    /// Starts recording every ID put or found from now on (they are live whatever the mark says).
    func beginGCEpoch()
    /// Stops recording.
    func endGCEpoch()
    /// Frees the space of every record not in `live` (and not recorded since ``beginGCEpoch()``),
    /// compacting where the live share of a unit (segment, pack) is below `liveRatioThreshold`.
    func sweep(live: Set<ChunkID>, liveRatioThreshold: Double) throws(AFSError) -> ChunkSweepReport
    /// Every record and the bytes it occupies in storage.
    func storedSizes() throws(AFSError) -> [ChunkID: Int]
    /// Reads and checks every stored record (checksum, decompression, identity) and the index
    /// against them; problems name where they are.
    func verifyRecords() throws(AFSError) -> ChunkVerification
    /// Counts for `store stats`.
    func usage() -> ChunkStoreUsage
    /// Makes everything durable and releases resources; the store is not used afterwards.
    func close() throws(AFSError)
}

extension ChunkStore {
    @discardableResult
    func put(_ type: RecordType, _ bytes: [UInt8]) throws(AFSError) -> ChunkID {
        try bytes.withBytes { (raw) throws(AFSError) in try put(type, raw) }
    }
}

/// What a sweep freed.
public struct ChunkSweepReport: Sendable, Equatable {
    /// Records not live (whether or not their space was freed yet).
    public var deadRecords: Int
    /// Storage units (segments, packs) removed.
    public var unitsCleaned: Int
    /// Live records copied out of cleaned units.
    public var recordsRelocated: Int
    /// Stored bytes of the dead records in the units removed (headers and padding included).
    public var bytesFreed: Int64

    /// A report with the given counts; all zero by default, for a sweep to add to.
    public init(deadRecords: Int = 0, unitsCleaned: Int = 0, recordsRelocated: Int = 0, bytesFreed: Int64 = 0) {
        self.deadRecords = deadRecords
        self.unitsCleaned = unitsCleaned
        self.recordsRelocated = recordsRelocated
        self.bytesFreed = bytesFreed
    }
}

/// What reading every record found.
public struct ChunkVerification: Sendable, Equatable {
    /// Records read, whether or not they passed the checks.
    public var recordsChecked: Int
    /// Bytes of those records as stored (compressed, headers and padding included).
    public var bytesChecked: Int64
    /// One line per problem, naming the unit and offset (or object and key).
    public var problems: [String]
    /// IDs whose stored copy was read back intact.
    public var intact: Set<ChunkID>

    /// A report with the given results; empty by default, for a verification to fill in.
    public init(recordsChecked: Int = 0, bytesChecked: Int64 = 0, problems: [String] = [], intact: Set<ChunkID> = []) {
        self.recordsChecked = recordsChecked
        self.bytesChecked = bytesChecked
        self.problems = problems
        self.intact = intact
    }
}

/// Counts of a chunk store.
public struct ChunkStoreUsage: Sendable, Equatable {
    /// Records stored, each ID counted once.
    public var records: Int
    /// Bytes the records would take uncompressed.
    public var rawBytes: Int64
    /// Bytes the records take as stored (compressed, with headers).
    public var storedBytes: Int64
    /// Segments or pack objects.
    public var units: Int
    /// Bytes the units occupy (dead records included until a sweep frees them).
    public var unitBytes: Int64

    /// Counts as a store's `usage()` reports them (for `store stats`).
    public init(records: Int, rawBytes: Int64, storedBytes: Int64, units: Int, unitBytes: Int64) {
        self.records = records
        self.rawBytes = rawBytes
        self.storedBytes = storedBytes
        self.units = units
        self.unitBytes = unitBytes
    }
}

/// `GET /v1/usage`: logical and physical bytes and operation counts, per tenant and per session.
public struct UsageReport: WireModel, Equatable {
    public struct Store: WireModel, Equatable {
        public var logicalBytes: Int64
        public var physicalBytes: Int64
        public var chunks: Int
        public var dedupRatio: Double

        enum CodingKeys: String, CodingKey {
            case chunks
            case logicalBytes = "logical_bytes"
            case physicalBytes = "physical_bytes"
            case dedupRatio = "dedup_ratio"
        }

        public init(logicalBytes: Int64, physicalBytes: Int64, chunks: Int, dedupRatio: Double) {
            self.logicalBytes = logicalBytes
            self.physicalBytes = physicalBytes
            self.chunks = chunks
            self.dedupRatio = dedupRatio
        }

        public static var wireName: String { "StoreUsage" }
    }

    public struct Tenant: WireModel, Equatable {
        public var sessions: Int
        public var logicalBytes: Int64
        /// The sum of its sessions' physical bytes (each session's cost over its parent).
        public var physicalBytes: Int64
        /// Operation counts since the server started; absent when the tenant made none.
        public var operations: [String: Int]?

        enum CodingKeys: String, CodingKey {
            case sessions, operations
            case logicalBytes = "logical_bytes"
            case physicalBytes = "physical_bytes"
        }

        public init(sessions: Int = 0, logicalBytes: Int64 = 0, physicalBytes: Int64 = 0, operations: [String: Int]? = nil) {
            self.sessions = sessions
            self.logicalBytes = logicalBytes
            self.physicalBytes = physicalBytes
            self.operations = operations
        }

        public static var wireName: String { "TenantUsage" }
    }

    public struct Session: WireModel, Equatable {
        public var id: String
        public var tenant: String
        public var files: Int
        public var logicalBytes: Int64
        /// Stored (compressed) bytes of the content this session holds and its parent does not:
        /// what it added to the store. 0 for a fresh fork; everything for a session without a parent.
        public var physicalBytes: Int64
        public var operations: [String: Int]

        enum CodingKeys: String, CodingKey {
            case id, tenant, files, operations
            case logicalBytes = "logical_bytes"
            case physicalBytes = "physical_bytes"
        }

        public init(id: String, tenant: String, files: Int, logicalBytes: Int64, physicalBytes: Int64, operations: [String: Int]) {
            self.id = id
            self.tenant = tenant
            self.files = files
            self.logicalBytes = logicalBytes
            self.physicalBytes = physicalBytes
            self.operations = operations
        }

        public static var wireName: String { "SessionUsage" }
    }

    public var store: Store
    public var tenants: [String: Tenant]
    public var sessions: [Session]

    public init(store: Store, tenants: [String: Tenant] = [:], sessions: [Session] = []) {
        self.store = store
        self.tenants = tenants
        self.sessions = sessions
    }
}

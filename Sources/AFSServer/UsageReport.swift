import AFSCore
import Foundation

/// What `/v1/usage` and the gRPC Usage call report: one computation, two encodings.
struct UsageReport: Sendable {
    struct TenantUsage: Sendable {
        var sessions = 0
        var logicalBytes: Int64 = 0
        /// Operation counts since start; nil when the tenant made none (the JSON then omits the key).
        var operations: [String: Int]?
    }

    struct SessionUsage: Sendable {
        var id: String
        var tenant: String
        var files: Int
        var logicalBytes: Int64
        var operations: [String: Int]
    }

    var stats: StoreStats
    var tenants: [String: TenantUsage] = [:]
    var sessions: [SessionUsage] = []

    /// The JSON document of `/v1/usage`.
    var jsonObject: [String: Any] {
        var tenantObjects: [String: [String: Any]] = [:]
        for (name, t) in tenants {
            var object: [String: Any] = ["sessions": t.sessions, "logical_bytes": t.logicalBytes]
            if let ops = t.operations { object["operations"] = ops }
            tenantObjects[name] = object
        }
        return [
            "store": [
                "logical_bytes": stats.logicalBytes, "physical_bytes": stats.physicalBytes, "chunks": stats.chunks,
                "dedup_ratio": stats.dedupRatio,
            ] as [String: Any],
            "tenants": tenantObjects,
            "sessions": sessions.map { s -> [String: Any] in
                ["id": s.id, "tenant": s.tenant, "files": s.files, "logical_bytes": s.logicalBytes, "operations": s.operations]
            },
        ]
    }
}

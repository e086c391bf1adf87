import AFSCore
import Foundation
import Hummingbird
import NIOCore

extension AetherServer {
    func addServiceRoutes(_ api: APIRouteTable) {
        api.add(.get, "/v1/health", "Liveness and version (no authentication).", role: nil) { _, _ in
            try HTTPHelpers.jsonObject(["status": "ok", "version": AetherServer.version, "uptime_seconds": Int(Date().timeIntervalSince(self.started))])
        }

        api.add(.get, "/v1/openapi.json", "This OpenAPI 3.1 document (no authentication).", role: nil) { _, _ in
            try HTTPHelpers.jsonObject(api.openAPIDocument(version: AetherServer.version))
        }

        api.add(.get, "/metrics", "Prometheus metrics (no authentication; bind to loopback or firewall it).", role: nil) { _, _ in
            let store = self.store
            let stats = try? await Blocking.run { try store.stats() }
            var text = [UInt8]()
            self.registry.emit(into: &text)
            if let stats {
                let extra = """
                    # TYPE afs_store_physical_bytes gauge
                    afs_store_physical_bytes \(stats.physicalBytes)
                    # TYPE afs_store_logical_bytes gauge
                    afs_store_logical_bytes \(stats.logicalBytes)
                    # TYPE afs_store_sessions gauge
                    afs_store_sessions \(stats.sessions)
                    # TYPE afs_store_chunks gauge
                    afs_store_chunks \(stats.chunks)

                    """
                text += Array(extra.utf8)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }

        api.add(.get, "/v1/usage", "Logical and physical bytes and operation counts, per tenant and per session.") { _, context in
            let principal = try context.require(.reader)
            return try HTTPHelpers.jsonObject(try await self.usageReport(principal).jsonObject)
        }

        api.add(.get, "/v1/analytics", "Forks, dedup ratio and activity over time.") { _, context in
            let principal = try context.require(.reader)
            let store = self.store
            let access = self.access
            let isAdmin = principal.isStoreAdmin
            let perMinute = self.usage.requestsPerMinute()
            return try await Blocking.run { () -> Response in
                let stats = try store.stats()
                var sessions = try store.sessions()
                if !isAdmin {
                    let mine = try access.sessions(tenant: principal.tenant)
                    sessions = sessions.filter { mine.contains($0.id) }
                }
                let forks = sessions.filter { $0.source.hasPrefix("session:") }.count
                var perDay: [String: Int] = [:]
                let f = DateFormatter()
                f.dateFormat = "yyyy-MM-dd"
                f.timeZone = TimeZone(identifier: "UTC")
                for s in sessions { perDay[f.string(from: s.createdAt), default: 0] += 1 }
                let activity = perMinute.sorted { $0.key < $1.key }.suffix(120).map { ["minute": $0.key * 60, "requests": $0.value] }
                return try HTTPHelpers.jsonObject([
                    "sessions": sessions.count, "forks": forks, "dedup_ratio": stats.dedupRatio,
                    "sessions_created_per_day": perDay, "requests_per_minute": activity,
                ] as [String: Any])
            }
        }
    }
}

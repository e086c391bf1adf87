import AFSCore
import AFSWire
import Foundation
import Hummingbird
import NIOCore

extension AetherServer {
    func addServiceRoutes(_ api: APIRouteTable) {
        api.tag = "service"
        api.add(.get, "/v1/health", "Liveness and version (no authentication).", role: nil, replies: [.ok(HealthReply.self)]) { _, _ in
            try HTTPHelpers.json(HealthReply(status: "ok", version: AetherServer.version, uptimeSeconds: Int(Date().timeIntervalSince(self.started))))
        }

        api.add(.get, "/v1/openapi.json", "This OpenAPI 3.1 document (no authentication).", role: nil, replies: [.ok(JSONValue.self, "an OpenAPI 3.1 document")]) { _, _ in
            try HTTPHelpers.json(api.openAPIDocument(version: AetherServer.version))
        }

        api.add(.get, "/metrics", "Prometheus metrics (no authentication; bind to loopback or firewall it).", role: nil, replies: [.bytes("text/plain", "metrics in the Prometheus text format 0.0.4")]) { _, _ in
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

        api.add(.get, "/v1/usage", "Logical and physical bytes and operation counts, per tenant and per session.", replies: [.ok(UsageReport.self)]) { _, context in
            let principal = try context.require(.reader)
            return try HTTPHelpers.json(try await self.usageReport(principal))
        }

        api.add(.get, "/v1/analytics", "Forks, dedup ratio and activity over time.", replies: [.ok(AnalyticsReport.self)]) { _, context in
            try HTTPHelpers.json(try await self.analytics(try context.require(.reader)))
        }
    }
}

import AFSCore
import AFSWire
import Foundation
import Hummingbird

extension AetherServer {
    /// Store-wide maintenance crosses tenants: only the server's own admin token may run it.
    func requireServerAdmin(_ context: AFSRequestContext) throws -> Principal {
        let p = try context.require(.admin)
        try AetherServer.requireServerAdmin(p)
        return p
    }

    func addStoreRoutes(_ api: APIRouteTable) {
        api.tag = "store"
        api.add(.get, "/v1/sessions/{id}/bus", "The session's bus topics.", replies: [.ok([String].self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.topics(id) })
        }

        api.add(.post, "/v1/snapshots", "Name a session's current tree as a snapshot (a template to start sessions from).", role: .writer, body: .json(SnapshotRequest.self), replies: [.created(SnapshotInfo.self)]) {
            request, context in
            _ = try context.require(.writer)
            let body = try await HTTPHelpers.decode(SnapshotRequest.self, from: request, context: context)
            _ = try await self.authorize(body.session, context, .writer)
            let store = self.store
            let s = try await Blocking.run { try store.createSnapshot(of: body.session, name: body.name) }
            return try HTTPHelpers.json(s, status: .created)
        }

        api.add(.get, "/v1/snapshots", "Snapshots of the tenant's sessions (admin: all).", replies: [.ok([SnapshotInfo].self)]) { _, context in
            try HTTPHelpers.json(try await self.visibleSnapshots(try context.require(.reader)))
        }

        api.add(.get, "/v1/store/stats", "Store-wide logical and physical bytes, chunks, dedup (server admin).", role: .admin, storeAdmin: true, replies: [.ok(StoreStats.self)]) { _, context in
            _ = try self.requireServerAdmin(context)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.stats() })
        }

        api.add(.post, "/v1/store/gc", "Collect garbage: free deleted sessions' space (server admin).", role: .admin, storeAdmin: true, replies: [.ok(GCReport.self)]) { _, context in
            _ = try self.requireServerAdmin(context)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.collectGarbage() })
        }

        api.add(.post, "/v1/store/verify", "Read and check every record and session tree (server admin).", role: .admin, storeAdmin: true, replies: [.ok(VerifyReport.self)]) { _, context in
            _ = try self.requireServerAdmin(context)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.verify() })
        }
    }
}

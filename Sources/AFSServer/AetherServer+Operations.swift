import AFSCore
import AFSWire
import Foundation

/// The operations whose rules do not depend on the transport: tenancy (who may see which session:
/// the tenant its row names, ``SessionInfo/tenant``) and accounting. The HTTP routes and the gRPC services both
/// call these, so a rule changed here changes for both.
extension AetherServer {
    /// The session, if `principal`'s tenant owns it (the store admin sees every session). A session
    /// of another tenant is reported missing (404 / NOT_FOUND), never forbidden: its existence is
    /// not revealed.
    func authorize(_ id: String, principal: Principal, _ role: Role) async throws -> SessionInfo {
        try principal.require(role)
        let store = self.store
        return try await Blocking.run {
            let info = try store.session(id)
            if principal.isStoreAdmin { return info }
            guard info.tenant == principal.tenant else {
                throw AFSError(.notFound, "session \(id) does not exist")
            }
            return info
        }
    }

    /// The sessions `principal` may see, optionally only those in one state.
    func visibleSessions(_ principal: Principal, status: SessionStatus?) async throws -> [SessionInfo] {
        try principal.require(.reader)
        let store = self.store
        return try await Blocking.run { () -> [SessionInfo] in
            let all = try store.sessions(status: status)
            if principal.isStoreAdmin { return all }
            return all.filter { $0.tenant == principal.tenant }
        }
    }

    /// Creates a session owned by `principal`'s tenant. Sources that read the server's own disk
    /// (directory, tar, git) need the store admin; sources naming a session, a checkpoint or a
    /// commit need read access to it.
    func createSession(name: String?, from source: SessionSource, principal: Principal, context m: MutationContext) async throws -> SessionInfo {
        try principal.require(.writer)
        switch source {
        case .directory, .tar, .git:
            try AetherServer.requireServerDiskAccess(principal, kind: AetherServer.kindName(source))
        case .tarDescriptor:
            break  // the caller streams the archive; nothing is read from the server's disk
        case .session(let id):
            _ = try await authorize(id, principal: principal, .reader)
        case .checkpoint(let id):
            let store = self.store
            let owner = try await Blocking.run { try store.checkpointOwner(id) }
            _ = try await authorize(owner, principal: principal, .reader)
        case .commit(let id):
            _ = try await commit(id, principal: principal)
        case .blank, .snapshot:
            break
        }
        let store = self.store
        let info = try await Blocking.run { () -> SessionInfo in
            try store.createSession(name: name, from: source, context: m.acting(for: principal))
        }
        count(principal, "create", session: info.id)
        return info
    }

    /// Sources that read paths on the server's own disk are for the store admin only: a tenant
    /// could otherwise import any file the server can read.
    static func requireServerDiskAccess(_ principal: Principal, kind: String) throws(APIError) {
        guard principal.isStoreAdmin else {
            throw APIError.forbidden(
                "source kind \(kind) reads the server's disk and needs the admin token; upload a tar to POST /v1/sessions/import instead")
        }
    }

    private static func kindName(_ source: SessionSource) -> String {
        switch source {
        case .directory: "directory"
        case .git: "git"
        default: "tar"
        }
    }

    /// Forks a session the caller may write; the fork belongs to the caller's tenant.
    func forkSession(_ id: String, name: String?, principal: Principal, context m: MutationContext) async throws -> SessionInfo {
        _ = try await authorize(id, principal: principal, .writer)
        let store = self.store
        let info = try await Blocking.run { () -> SessionInfo in
            try store.fork(id, name: name, context: m.acting(for: principal))
        }
        count(principal, "fork", session: id)
        return info
    }

    /// Deletes a session (its owner is in its row, so it goes with it).
    func deleteSession(_ id: String, principal: Principal) async throws {
        _ = try await authorize(id, principal: principal, .writer)
        let store = self.store
        try await Blocking.run { try store.delete(id) }
        count(principal, "delete", session: id)
    }

    /// Changes from `against` to session `id`. What `against` names must be visible to the caller
    /// too (``reference(named:principal:)``): its sessions, their checkpoints and commits, its
    /// refs, the store's snapshots.
    func diff(_ id: String, against: String, principal: Principal) async throws -> [DiffEntry] {
        _ = try await authorize(id, principal: principal, .reader)
        let base = try await reference(named: against, principal: principal)
        let store = self.store
        return try await Blocking.run { try store.diff(base, .session(id)) }
    }

    /// A file of session `id` for reading, or with `at` the same path as it is in another tree
    /// the caller can see (``reference(named:principal:)``): the base side of a review's diff.
    func openFile(_ id: String, path: String, at: String?, principal: Principal) async throws -> FileSnapshot {
        _ = try await authorize(id, principal: principal, .reader)
        let store = self.store
        guard let at, !at.isEmpty else { return try await Blocking.run { try store.openFile(id, path: path) } }
        let reference = try await reference(named: at, principal: principal)
        do {
            return try await Blocking.run { try store.openFile(reference, path: path) }
        } catch let error as AFSError where error.code == .notFound {
            // Named as the caller named it: a tenant's ref is stored under a prefix it never sees.
            throw APIError.notFound("\(path) does not exist in \(at)")
        }
    }

    /// The regular files among `paths`, opened from one version of the session (see
    /// ``AetherStore/openFiles(_:paths:)``); the others are left out.
    func openFiles(_ id: String, paths: [String], principal: Principal) async throws -> [FileSnapshot] {
        _ = try await authorize(id, principal: principal, .reader)
        let store = self.store
        return try await Blocking.run { try store.openFiles(id, paths: paths).compactMap { $0 } }
    }

    /// Store totals, and bytes and operation counts per tenant and per session, limited to the
    /// caller's tenant unless it is the store admin.
    func usageReport(_ principal: Principal) async throws -> UsageReport {
        try principal.require(.reader)
        let store = self.store
        let access = self.access
        let usage = self.usage
        return try await Blocking.run { () -> UsageReport in
            let counts = try usage.snapshot(access)
            let stats = try store.stats()
            var report = UsageReport(store: .init(logicalBytes: stats.logicalBytes, physicalBytes: stats.physicalBytes, chunks: stats.chunks, dedupRatio: stats.dedupRatio))
            var visible: [(id: String, tenant: String)] = []
            for s in try store.sessions() {
                let tenant = s.tenant ?? "admin"
                if principal.isStoreAdmin || tenant == principal.tenant { visible.append((s.id, tenant)) }
            }
            let usage = try store.sessionUsage(visible.map(\.id))
            for (id, tenant) in visible {
                guard let u = usage[id] else { continue }
                report.sessions.append(
                    UsageReport.Session(
                        id: id, tenant: tenant, files: u.files, logicalBytes: u.logicalBytes, physicalBytes: u.physicalBytes,
                        operations: counts.sessions[id] ?? [:]))
                report.tenants[tenant, default: UsageReport.Tenant()].sessions += 1
                report.tenants[tenant, default: UsageReport.Tenant()].logicalBytes += u.logicalBytes
                report.tenants[tenant, default: UsageReport.Tenant()].physicalBytes += u.physicalBytes
            }
            for (tenant, ops) in counts.tenants where principal.isStoreAdmin || tenant == principal.tenant {
                report.tenants[tenant, default: UsageReport.Tenant()].operations = ops
            }
            return report
        }
    }

    /// Store-wide maintenance crosses tenants: only the server's own admin token may run it.
    static func requireServerAdmin(_ principal: Principal) throws(APIError) {
        guard principal.role == .admin && principal.tenant == "admin" else {
            throw APIError.forbidden("store maintenance needs the server's admin token (DATA/admin.token)")
        }
    }

    /// Snapshots of the caller's tenant's sessions (every snapshot for the store admin).
    func visibleSnapshots(_ principal: Principal) async throws -> [SnapshotInfo] {
        try principal.require(.reader)
        let store = self.store
        return try await Blocking.run { () -> [SnapshotInfo] in
            let all = try store.snapshots()
            if principal.isStoreAdmin { return all }
            let mine = Set(try store.sessions().lazy.filter { $0.tenant == principal.tenant }.map(\.id))
            return all.filter { $0.sessionID.map(mine.contains) ?? false }
        }
    }

    /// Which of `chunks` (hex IDs) a chunked write into `session` must send as bytes: the others
    /// are chunks of the `bases` files (default: `path` itself).
    func missingChunks(_ session: String, path: String, bases: [String], chunks: [String]) async throws -> [String] {
        var ids: [ChunkID] = []
        ids.reserveCapacity(chunks.count)
        for hex in chunks {
            guard let cid = ChunkID(hex: hex) else { throw APIError.badRequest("chunk IDs are 64 hex digits, not '\(hex.prefix(80))'") }
            ids.append(cid)
        }
        let store = self.store
        let from = bases.isEmpty ? [path] : bases
        let candidates = ids
        return try await Blocking.run { try store.missingChunks(session, bases: from, of: candidates) }.map(\.hex)
    }

    /// Forks, dedup ratio and activity over time, for the caller's tenant (everything for the store admin).
    func analytics(_ principal: Principal) async throws -> AnalyticsReport {
        try principal.require(.reader)
        let store = self.store
        let perMinute = usage.requestsPerMinute()
        return try await Blocking.run { () -> AnalyticsReport in
            let stats = try store.stats()
            var sessions = try store.sessions()
            if !principal.isStoreAdmin { sessions = sessions.filter { $0.tenant == principal.tenant } }
            let forks = sessions.filter { $0.source.hasPrefix("session:") }.count
            var perDay: [String: Int] = [:]
            let f = DateFormatter()
            f.dateFormat = "yyyy-MM-dd"
            f.timeZone = TimeZone(identifier: "UTC")
            for s in sessions { perDay[f.string(from: s.createdAt), default: 0] += 1 }
            let activity = perMinute.sorted { $0.key < $1.key }.suffix(120).map { AnalyticsReport.Minute(minute: $0.key * 60, requests: $0.value) }
            return AnalyticsReport(sessions: sessions.count, forks: forks, dedupRatio: stats.dedupRatio, sessionsCreatedPerDay: perDay, requestsPerMinute: Array(activity))
        }
    }

    /// A session from a tar archive read from `fd` (the request body or stream, through a pipe),
    /// owned by the caller's tenant.
    func importTar(fromDescriptor fd: Int32, name: String?, sameOwner: Bool, principal: Principal, context: MutationContext) throws -> SessionInfo {
        try store.importTar(fromDescriptor: fd, name: name, context: context.acting(for: principal), preserveOwners: sameOwner)
    }
}

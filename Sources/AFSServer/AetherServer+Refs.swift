import AFSCore
import AFSWire

/// Refs and commits per tenant, for HTTP and gRPC alike.
///
/// Ref names are short and guessable (`main`), so they cannot be shared store-wide: each tenant's
/// refs live in the store as `tenant:NAME/REF` (``Principal/refNamespace``), and every call a tenant
/// makes names them without the prefix. A commit is visible to the tenant that owns the session it
/// was made in (its ID is a content hash, not a secret). The store admin sees every ref by its
/// stored name and every commit.
extension AetherServer {
    /// The tenant's refs, by the names it uses.
    func refs(principal: Principal) async throws -> [RefInfo] {
        let store = self.store
        let all = try await Blocking.run { try store.refs() }
        return all.compactMap { ref in principal.visibleRef(ref.name).map { var r = ref; r.name = $0; return r } }
    }

    /// A commit the caller may see; 404 otherwise (another tenant's commits do not exist for it).
    func commit(_ id: String, principal: Principal) async throws -> CommitInfo {
        let store = self.store
        let commit = try await Blocking.run { try store.commit(id: id) }
        guard try await mayRead(commit, principal: principal) else { throw APIError.notFound("commit \(id) does not exist") }
        return commit
    }

    /// Whether `principal` may read `commit`: the store admin always; a tenant if it owns the
    /// session the commit was made in.
    func mayRead(_ commit: CommitInfo, principal: Principal) async throws -> Bool {
        if principal.isStoreAdmin { return true }
        guard let session = commit.sessionID else { return false }
        let store = self.store
        return try await Blocking.run { () throws(AFSError) -> String? in
            do throws(AFSError) { return try store.session(session).tenant } catch where error.code == .notFound { return nil }
        } == principal.tenant
    }

    /// The commits reachable from `start`: one of the caller's refs, else a commit it may see.
    func log(_ start: String, principal: Principal, limit: Int, skip: Int) async throws -> [CommitInfo] {
        let store = self.store
        let ref = principal.storedRef(start)
        if try await refExists(ref) {
            return try await Blocking.run { try store.log(ref, limit: limit, skip: skip) }
        }
        _ = try await commit(start, principal: principal)
        return try await Blocking.run { try store.log(start, limit: limit, skip: skip) }
    }

    /// Promotes into the caller's ref `ref`; the result names it as the caller does.
    func promote(_ session: String, ref: String, principal: Principal, context m: MutationContext) async throws -> PromoteResult {
        let store = self.store
        let stored = principal.storedRef(ref)
        var result = try await Blocking.run { try store.promote(session, ref: stored, context: m) }
        result.ref = ref
        return result
    }

    /// Whether the stored ref `stored` exists; a catalog that cannot answer is an error, not a no.
    private func refExists(_ stored: String) async throws -> Bool {
        let store = self.store
        return try await Blocking.run { () throws(AFSError) -> Bool in
            do throws(AFSError) {
                _ = try store.ref(stored)
                return true
            } catch where error.code == .notFound {
                return false
            }
        }
    }

    /// Approvals a promote into the caller's ref `ref` needs.
    func refPolicy(_ ref: String, principal: Principal) async throws -> Int {
        let store = self.store
        let stored = principal.storedRef(ref)
        return try await Blocking.run { try store.refPolicy(stored) }
    }

    func setRefPolicy(_ ref: String, requiredApprovals: Int, principal: Principal) async throws {
        let store = self.store
        let stored = principal.storedRef(ref)
        try await Blocking.run { try store.setRefPolicy(stored, requiredApprovals: requiredApprovals) }
    }

    /// What `name` names for the caller (`diff`'s `against`): its own sessions, checkpoints of
    /// its sessions, commits it may see, its refs, and the store's snapshots.
    func reference(named name: String, principal: Principal) async throws -> TreeReference {
        let store = self.store
        if name.hasPrefix("ses_") {
            _ = try await authorize(name, principal: principal, .reader)
            return .session(name)
        }
        if name.hasPrefix("ckp_") {
            let owner = try await Blocking.run { try store.checkpointOwner(name) }
            _ = try await authorize(owner, principal: principal, .reader)
            return .checkpoint(name)
        }
        let ref = principal.storedRef(name)
        if try await refExists(ref) { return .ref(ref) }
        let reference = try await Blocking.run { try store.reference(named: name) }
        switch reference {
        case .commit(let id):
            _ = try await commit(id, principal: principal)
        case .ref:
            // Another tenant's ref, or (for the store admin) one named as stored.
            guard principal.isStoreAdmin else { throw APIError.notFound("'\(name)' is not a session, checkpoint, commit, ref or snapshot") }
        case .session, .checkpoint, .snapshot:
            break
        }
        return reference
    }
}

extension Principal {
    /// Where this tenant's refs live in the store: `tenant:NAME/` (the store admin's are unprefixed).
    var refNamespace: String { tenant == "admin" ? "" : "tenant:\(tenant)/" }

    /// The stored name of the caller's ref `name`.
    func storedRef(_ name: String) -> String { refNamespace + name }

    /// The name the caller uses for the stored ref `stored`; nil if it is another tenant's.
    func visibleRef(_ stored: String) -> String? {
        if refNamespace.isEmpty { return stored }
        return stored.hasPrefix(refNamespace) ? String(stored.dropFirst(refNamespace.count)) : nil
    }
}

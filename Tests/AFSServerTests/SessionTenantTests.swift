import AFSCore
import Foundation
import GRDB
import Testing

@testable import AFSServer

/// Which tenant owns a session lives in the session's own catalog row, written by the same
/// transaction that creates the session: a create or fork through the server is one durable
/// commit, and owners kept by older servers in `server.sqlite` move in once.
@Suite(.serialized) struct SessionTenantTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tenant-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Bytes of the access database and its WAL: what a write to it would change.
    static func accessDatabaseBytes(_ data: String) -> Data {
        ["/server.sqlite", "/server.sqlite-wal"].reduce(into: Data()) { all, name in
            all += (try? Data(contentsOf: URL(fileURLWithPath: data + name))) ?? Data()
        }
    }

    /// A fork and a create through the server's operations write the owner into the session's
    /// row and nothing into the access database; the owner decides who sees the session.
    @Test func aForkRecordsItsOwnerInItsOwnTransactionOnly() async throws {
        let data = try Self.directory()
        let server = try AetherServer(configuration: .init(dataDirectory: data))
        defer { try? server.shutdown(); try? FileManager.default.removeItem(atPath: data) }
        let acme = Principal(tokenID: "tok_a", tenant: "acme", role: .writer)
        let globex = Principal(tokenID: "tok_g", tenant: "globex", role: .writer)
        let context = MutationContext(actor: "agent-1")

        let base = try await server.createSession(name: nil, from: .blank, principal: acme, context: context)
        #expect(base.tenant == "acme")
        let before = Self.accessDatabaseBytes(data)
        var forks: [SessionInfo] = []
        for _ in 0..<10 { forks.append(try await server.forkSession(base.id, name: nil, principal: acme, context: context)) }
        #expect(forks.allSatisfy { $0.tenant == "acme" })
        #expect(Self.accessDatabaseBytes(data) == before, "a fork wrote to server.sqlite: that is a second durable commit")
        #expect(try server.store.session(forks[0].id).tenant == "acme", "the catalog's row names the owner")

        // Ownership decides visibility and access.
        #expect(try await server.visibleSessions(acme, status: nil).count == 11)
        #expect(try await server.visibleSessions(globex, status: nil).isEmpty)
        await #expect(throws: AFSError.self) { _ = try await server.authorize(forks[0].id, principal: globex, .reader) }
        #expect(try await server.authorize(forks[0].id, principal: acme, .reader).id == forks[0].id)
        // A fork belongs to whoever forks, not to the source's owner (the store admin here).
        let admin = Principal(tokenID: "tok_admin", tenant: "admin", role: .admin)
        let adminFork = try await server.forkSession(base.id, name: nil, principal: admin, context: context)
        #expect(adminFork.tenant == "admin")
        #expect(try await server.visibleSessions(acme, status: nil).count == 11)

        // Writes, folds and archiving rewrite the row and keep the owner, across a reopen.
        try server.store.writeFile(forks[1].id, path: "/a.txt", data: Array("x".utf8))
        _ = try server.store.checkpoint(forks[1].id)
        try server.store.archive(forks[1].id)
        try server.shutdown()
        let again = try AetherServer(configuration: .init(dataDirectory: data))
        defer { try? again.shutdown() }
        #expect(try again.store.session(forks[1].id).tenant == "acme")
        #expect(try again.store.session(forks[1].id).status == .archived)
    }

    /// Owners an older server kept in `server.sqlite` move into the sessions' rows at the next
    /// start: once, never over an owner the row already names, and rows of deleted sessions go.
    @Test func ownersKeptByAnOlderServerMoveIntoTheCatalogOnce() throws {
        let data = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // What an older server left: sessions without an owner in their rows, owners in server.sqlite.
        let store = try AetherStore.open(at: data + "/store")
        let old = try store.createSession(from: .blank)
        let archived = try store.createSession(from: .blank)
        try store.archive(archived.id)
        let named = try store.createSession(from: .blank, context: MutationContext(tenant: "globex"))
        let unowned = try store.createSession(from: .blank)
        try store.close()
        _ = try SQLiteAccessCatalog(path: data + "/server.sqlite")
        let database = try DatabaseQueue(path: data + "/server.sqlite")
        try database.write { db in
            for (session, tenant) in [(old.id, "acme"), (archived.id, "acme"), (named.id, "initech"), ("ses_deletedlongago0", "acme")] {
                try db.execute(sql: "INSERT INTO ownership (session_id, tenant) VALUES (?, ?)", arguments: [session, tenant])
            }
        }
        try database.close()

        let server = try AetherServer(configuration: .init(dataDirectory: data))
        #expect(try server.store.session(old.id).tenant == "acme")
        #expect(try server.store.session(archived.id).tenant == "acme")
        #expect(try server.store.session(archived.id).status == .archived)
        #expect(try server.store.session(named.id).tenant == "globex", "an owner the row names is kept")
        #expect(try server.store.session(unowned.id).tenant == nil, "a session nobody owned stays the store admin's")
        let records = try #require(server.access.records as? SQLiteAccessCatalog)
        #expect(try records.moveLegacyOwners(into: server.store) == 0, "the move is done once")
        try server.shutdown()

        let reread = try DatabaseQueue(path: data + "/server.sqlite")
        #expect(try reread.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM ownership") } == 0)
        try reread.close()
        // And after a restart the owners are still there (they are in the catalog now).
        let again = try AetherServer(configuration: .init(dataDirectory: data))
        defer { try? again.shutdown() }
        #expect(try again.store.session(old.id).tenant == "acme")
    }
}

import AFSCore
import Foundation
import Synchronization
import Testing

@testable import AFSServer

/// Console sign-ins in the access catalog, on a clock the test moves: they end after their
/// lifetime, ended ones are forgotten, and a revoked token ends its sign-ins.
@Suite struct ConsoleSessionsTests {
    @Test func signInsEndWithTheirLifetimeAndTheirToken() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let access = try AccessControl(path: directory + "/server.sqlite")
        let clock = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        let sessions = ConsoleSessions(access: access, now: { clock.withLock { $0 } })
        let (info, secret) = try access.createToken(tenant: "t1", role: .writer, label: nil)

        let cookie = try sessions.open(secret: secret)
        let signedIn = try #require(try sessions.signedIn(cookie))
        #expect(signedIn.principal.tenant == "t1" && signedIn.entry.tokenHash == AccessControl.hash(secret))
        #expect(try access.records.signIn(idHash: AccessControl.hash(cookie)) != nil)
        #expect(try sessions.entry("not-a-cookie") == nil)

        // One second before the end it holds; at the end it is gone, and so is its row.
        clock.withLock { $0 += Double(ConsoleSessions.lifetime.components.seconds) - 1 }
        #expect(try sessions.entry(cookie) != nil)
        clock.withLock { $0 += 1 }
        #expect(try sessions.entry(cookie) == nil)
        #expect(try access.records.signIn(idHash: AccessControl.hash(cookie)) == nil)

        // Opening a sign-in forgets every ended one.
        let old = try sessions.open(secret: secret)
        clock.withLock { $0 += Double(ConsoleSessions.lifetime.components.seconds) + 1 }
        let fresh = try sessions.open(secret: secret)
        #expect(try access.records.signIn(idHash: AccessControl.hash(old)) == nil)
        #expect(try sessions.signedIn(fresh) != nil)

        // Revoking the token ends the sign-in (after the token cache's lifetime at most).
        #expect(try access.revoke(tokenID: info.id, tenant: nil))
        #expect(try sessions.signedIn(fresh) == nil)
        #expect(try access.records.signIn(idHash: AccessControl.hash(fresh)) == nil)
    }
}

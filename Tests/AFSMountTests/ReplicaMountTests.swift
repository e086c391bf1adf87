import AFSTestSupport
import Foundation
import Testing

/// A session mounted through one replica while another replica of the same catalog takes writes
/// for it: each side sees the other's changes.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"), .offCooperativePool)
struct ReplicaMountTests {
    @Test func theMountWorksAgainstOneReplicaWhileWritesArriveThroughAnother() throws {
        let fixture = try MountFixture(.clustered)
        let first = try #require(fixture.server)
        // A second replica: the first server's catalog and bucket prefix, another data directory.
        let saved = try #require(FileManager.default.contents(atPath: first.data + "/test-backend.json"))
        let backend = try #require(try JSONSerialization.jsonObject(with: saved) as? [String: [String: String]])
        let arguments = (backend["arguments"] ?? [:]).sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        let second = try ServerProcess(data: fixture.root + "/second", arguments: arguments, environment: backend["environment"] ?? [:])
        defer { second.cleanup() }
        let auth = [("Authorization", "Bearer \(second.adminToken)")]

        let session = try fixture.createSession()
        let mounted = try fixture.mount(session)
        // Through the mount (the first replica, which takes the session), read through the second.
        try Data("from the mount\n".utf8).write(to: URL(fileURLWithPath: mounted.directory + "/mounted.txt"))
        try mounted.sync()
        let read = try HTTPTestClient.request("GET", second.base + "/v1/sessions/\(session)/files/mounted.txt", headers: auth)
        #expect(read.status == 200 && String(decoding: read.body, as: UTF8.self) == "from the mount\n", "\(read.status)")

        // Through the second replica, seen in the mount (its change follower invalidates the kernel's cache).
        for i in 0..<3 {
            let body = "from the second replica, round \(i)\n"
            let put = try HTTPTestClient.request(
                "PUT", second.base + "/v1/sessions/\(session)/files/remote.txt", headers: auth, body: .data(Data(body.utf8)))
            #expect(put.status == 201)
            let deadline = Date().addingTimeInterval(15)
            var seen = ""
            while Date() < deadline {
                seen = (try? String(contentsOfFile: mounted.directory + "/remote.txt", encoding: .utf8)) ?? ""
                if seen == body { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(seen == body, "the mount shows the second replica's write \(i): \(seen.debugDescription)")
        }
        #expect(try mounted.unmount() == 0)
    }
}

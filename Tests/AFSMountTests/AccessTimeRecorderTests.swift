import AFSCore
import Foundation
import Testing

@testable import AFSMount

/// Access times a mount owes the service: answered at once, sent in one call, answered a while
/// longer after the send, and not looked up at all once nothing is owed.
@Suite(.offCooperativePool) struct AccessTimeRecorderTests {
    @Test func recordedTimesAnswerUntilSentAndAGraceLaterNothingIsLookedUp() throws {
        let directory = "/var/tmp/afs-atime-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try AetherStore.open(at: directory + "/store")
        defer { try? store.close() }
        let session = try store.createSession(name: "m", from: .blank).id
        try store.writeFile(session, path: "/a", data: Array("alpha".utf8))
        try store.writeFile(session, path: "/b", data: Array("bravo".utf8))
        // A timer a minute away: only the explicit flushes below send.
        let recorder = AccessTimeRecorder(service: store, session: session, interval: .seconds(60), grace: .milliseconds(200), log: { _ in })

        #expect(!recorder.mayAnswer && recorder.pending("/a") == nil, "nothing owed: no lock taken")
        let t1: Int64 = 1_900_000_000_000_000_000
        recorder.record("/a", at: t1)
        recorder.record("/a", at: t1 - 5)  // an older read does not move it back
        #expect(recorder.mayAnswer)
        #expect(recorder.pending("/a") == t1 && recorder.pending("/b") == nil)

        // A rename carries the owed time; a removal drops it.
        recorder.moved("/a", to: "/c")
        #expect(recorder.pending("/a") == nil && recorder.pending("/c") == t1)
        recorder.moved("/c", to: "/a")
        recorder.record("/b", at: t1)
        recorder.moved("/b", to: nil)
        #expect(recorder.pending("/b") == nil)

        // Sent in one call; still answered for the grace (a cached older time must not show).
        recorder.flush()
        #expect(try store.stat(session, path: "/a").atime == t1, "the service has the time")
        #expect(recorder.pending("/a") == t1, "answered for a while after the send")

        // An explicit time wins over reads before it.
        let t2 = t1 + 1_000
        recorder.record("/a", at: t2)
        recorder.cancel("/a")
        #expect(recorder.pending("/a") == nil)

        // After the grace the next flush forgets what was sent, and lookups skip the lock again.
        Thread.sleep(forTimeInterval: 0.3)
        recorder.flush()
        #expect(!recorder.mayAnswer, "nothing owed and nothing sent lately")
        #expect(recorder.pending("/a") == nil)
        recorder.record("/b", at: t2)
        #expect(recorder.mayAnswer && recorder.pending("/b") == t2, "a new read is answered at once")
        // Sent before the store closes: the armed timer finds nothing to send when it fires.
        recorder.flush()
        #expect(try store.stat(session, path: "/b").atime == t2)
    }
}

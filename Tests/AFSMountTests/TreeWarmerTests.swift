import Foundation
import Testing

@testable import AFSMount

/// The tree warmer on its own: a subtree too large for one listing is split, and its parts are
/// read in the background in walk order, each once, with lookups waiting only for their part.
@Suite struct TreeWarmerTests {
    final class Reads: @unchecked Sendable {
        let lock = NSLock()
        var order: [String] = []
        func note(_ directory: String) { lock.withLock { order.append(directory) } }
        var seen: [String] { lock.withLock { order } }
    }

    @Test func aSplitTreeIsReadPartByPartInWalkOrder() {
        let reads = Reads()
        let slow = DispatchSemaphore(value: 0)
        let warmer = TreeWarmer(limit: 100, window: .seconds(60), lanes: 1)
        defer { warmer.stop() }
        let read: @Sendable (String) -> TreeWarmer.Outcome = { directory in
            reads.note(directory)
            switch directory {
            case "/": return .split(["/c", "/a", "/b"])
            case "/a": slow.wait()  // held until the test lets it go
            default: break
            }
            return .read
        }
        warmer.warm("/", epoch: 0, read: read)
        #expect(reads.seen.first == "/")
        // The lane is on /a (first in name order); a lookup below it waits for that read.
        let deadline = ContinuousClock.now + .seconds(10)
        while !reads.seen.contains("/a"), ContinuousClock.now < deadline { usleep(5_000) }
        let waited = DispatchSemaphore(value: 0)
        Thread {
            warmer.warm("/a/deep", epoch: 0, read: read)
            waited.signal()
        }.start()
        #expect(waited.wait(timeout: .now() + .milliseconds(100)) == .timedOut, "waits for the read of /a under way")
        // A part the lane has not reached is read by the lookup that needs it, once.
        warmer.warm("/c", epoch: 0, read: read)
        slow.signal()
        #expect(waited.wait(timeout: .now() + .seconds(5)) == .success)
        while !reads.seen.contains("/b"), ContinuousClock.now < deadline { usleep(5_000) }
        usleep(50_000)
        #expect(reads.seen == ["/", "/a", "/c", "/b"], "\(reads.seen)")
        // All warm now: nothing is read again.
        warmer.warm("/b/x", epoch: 0, read: read)
        warmer.warm("/a", epoch: 0, read: read)
        #expect(reads.seen.count == 4)
    }
}

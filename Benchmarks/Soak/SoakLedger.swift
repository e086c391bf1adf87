import AFSSupport
import Foundation

/// What the server acknowledged, and what it may or may not have done when it was killed: the
/// soak's expectation of the store after each restart.
///
/// A request that failed has an unknown outcome (the kill may have come after the commit and
/// before the answer), so each path holds the last acknowledged content and at most one
/// in-flight candidate; a writer stops for the cycle after its first failure, so there is never
/// more than one.
final class SoakLedger: Sendable {
    struct PathState: Sendable {
        var acknowledged: [UInt8]?
        var inFlight: [UInt8]?
        var version = 0
    }

    struct State: Sendable {
        var paths: [String: [String: PathState]] = [:]  // session → path → state
        var forks: Set<String> = []
        var forksDeleting: Set<String> = []
        var deletedForks: Set<String> = []
        var checkpoints: [String: Set<String>] = [:]  // session → acknowledged checkpoint IDs
        var promoted: [String: String] = [:]  // ref → last acknowledged commit promoted into it
        var counts: [String: Int] = [:]
    }

    let state = Locked(State())

    func count(_ what: String, _ n: Int = 1) {
        state.withLock { $0.counts[what, default: 0] += n }
    }

    func counts() -> [String: Int] { state.withLock { $0.counts } }

    /// Deterministic content of one version of a path: sizes from inline to multi-chunk.
    static func content(session: String, path: String, version: Int) -> [UInt8] {
        let sizes = [29, 2_500, 20_000, 70_000]
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the name, then the version
        for byte in (session + path).utf8 { seed = (seed ^ UInt64(byte)) &* 0x100_0000_01B3 }
        seed ^= UInt64(version) &* 0x9E37_79B9_7F4A_7C15
        let size = sizes[abs(version &+ path.count) % sizes.count] + version % 7
        return (0..<size).map { _ in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
    }
}

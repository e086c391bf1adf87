import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

/// Chunks stored side by side (``ChunkPipeline``) give exactly the content one thread gives: the
/// same cut points, the same IDs in the same order, the same bytes back, whole or streamed.
@Suite(.offCooperativePool) struct ChunkPipelineTests {
    static func data(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        // Half random (stored raw), half repetitive text (compressed): both record paths.
        let random = rng.bytes(count / 2)
        let text = Array(String(repeating: "let value = compute(x) // a line of source\n", count: count / 80 + 1).utf8.prefix(count - count / 2))
        return random + text
    }

    @Test(arguments: [1, 2, 4]) func parallelStoresMatchOneThread(workers: Int) throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path)
        let bytes = ChunkPipelineTests.data(6 << 20, seed: 42)
        var serial = ContentStore(log: log)
        serial.workers = 1
        var parallel = ContentStore(log: log)
        parallel.workers = workers
        let expected = try serial.store(bytes)
        #expect(try parallel.store(bytes) == expected)
        #expect(serial.contentID(of: bytes) == TreeValue(kind: .file, mode: 0o644, mtime: 0, size: UInt64(bytes.count), content: expected).contentID)
        // Streamed in uneven pieces, as imports and uploads append.
        var writer = ContentStore.StreamWriter(store: parallel)
        var offset = 0
        var rng = SeededRandom(seed: 5)
        while offset < bytes.count {
            let n = min(bytes.count - offset, Int(rng.next() % (3 << 20)) + 1)
            try writer.append(Array(bytes[offset..<(offset + n)]))
            offset += n
        }
        #expect(try writer.finish() == expected)
        #expect(try parallel.read(expected, size: UInt64(bytes.count)) == bytes)
        try log.sync()
        #expect(try log.verifyRecords().problems.isEmpty)
    }
}

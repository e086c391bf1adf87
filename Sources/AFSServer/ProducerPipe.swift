import AFSSupport
import Foundation
import Synchronization

/// Runs a blocking producer (a tar export) on its own thread, writing into a pipe, and hands its
/// output to async code in chunks. The pipe's capacity is the only buffer, so a slow client slows
/// the producer down instead of growing memory; closing the reading end early makes the producer's
/// next write fail (SIGPIPE is ignored by the server), which ends it.
final class ProducerPipe: Sendable {
    private let readFD: Int32
    private let failure = ProducerFailure()

    /// Starts `producer` at once on a new thread.
    init(producer: @escaping @Sendable (Int32) throws -> Void) throws(APIError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw APIError(.internalServerError, "io", "pipe failed") }
        let (readFD, writeFD) = (fds[0], fds[1])
        self.readFD = readFD
        let failure = self.failure
        Thread.detachNewThread {
            defer { close(writeFD) }
            do { try producer(writeFD) } catch { failure.record(error) }
        }
    }

    /// The next chunk of at most `maxBytes`; empty once the producer is done and everything is read.
    func next(maxBytes: Int = 1 << 20) async throws -> [UInt8] {
        let fd = readFD
        return try await Blocking.run { () -> [UInt8] in
            var buffer = [UInt8](repeating: 0, count: maxBytes)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                return n <= 0 ? [] : Array(buffer[0..<n])
            }
        }
    }

    /// Why the producer stopped early, if it failed (known once `next` returned an empty chunk).
    var producerError: (any Error)? { failure.error }

    /// Closes the reading end; call exactly once, when done reading or giving up.
    func closeReadingEnd() {
        close(readFD)
    }
}

/// The producer thread's error, handed to the reading side.
private final class ProducerFailure: Sendable {
    private let stored = Locked<(any Error)?>(nil)

    func record(_ error: any Error) { stored.withLock { $0 = error } }
    var error: (any Error)? { stored.withLock { $0 } }
}

import AFSSupport
import Foundation
import Synchronization

/// Writes a mount's log lines to its standard error (a terminal, or the log file of a background
/// mount), as text or as JSON lines (`[logging] format`). Lines from FUSE worker threads are
/// written whole, one `write(2)` each, so they never interleave.
public final class MountLog: Sendable {
    public enum Level: String, Sendable {
        case info, warning, error
    }

    public let format: LoggingConfiguration.Format
    public let session: String
    private let descriptor: Int32
    private let lock = Locked(())

    public init(format: LoggingConfiguration.Format, session: String, descriptor: Int32 = 2) {
        self.format = format
        self.session = session
        self.descriptor = descriptor
    }

    public func write(_ message: String, level: Level = .error) {
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        let line: String
        switch format {
        case .text:
            line = "\(time) aether mount \(session) \(level.rawValue): \(message)\n"
        case .json:
            let object: [String: String] = ["time": time, "level": level.rawValue, "session": session, "message": message]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self) + "\n"
        }
        let bytes = Array(line.utf8)
        lock.withLock { _ in
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, bytes.count - done) }
                if n <= 0 {
                    if n < 0, errno == EINTR { continue }
                    return
                }
                done += n
            }
        }
    }

    /// The file standard error points to, when it is a regular file (what `aether logs` reads).
    public static func standardErrorFile() -> String? {
        var st = stat()
        guard fstat(2, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/2"), target.hasPrefix("/") else { return nil }
        return target
    }
}

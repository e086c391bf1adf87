import Foundation

/// Runs a program to completion for a test: arguments, environment, working directory and
/// standard input in; exit status and output out.
public enum ChildProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: Data
        /// Empty when stderr was merged into stdout.
        public var stderr: Data
    }

    /// - Parameter mergeStderr: send stderr to the same pipe as stdout (the order a terminal shows).
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdin: Data? = nil, mergeStderr: Bool = false
    ) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        p.standardOutput = out
        p.standardError = mergeStderr ? out : err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        // stderr drains on its own thread so a chatty program cannot fill one pipe while we read the other.
        let errData = LockedData()
        let drain = Thread { errData.set(mergeStderr ? Data() : err.fileHandleForReading.readDataToEndOfFile()) }
        drain.start()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !drain.isFinished { Thread.sleep(forTimeInterval: 0.001) }
        return Result(status: p.terminationStatus, stdout: o, stderr: errData.get())
    }

    private final class LockedData: @unchecked Sendable {
        // @unchecked: guarded by `lock`.
        private let lock = NSLock()
        private var data = Data()
        func set(_ d: Data) { lock.withLock { data = d } }
        func get() -> Data { lock.withLock { data } }
    }
}

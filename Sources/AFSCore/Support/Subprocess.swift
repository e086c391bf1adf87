import Foundation

/// Runs external programs (git) with arguments passed as an array: no shell, no injection.
package enum Subprocess {
    package struct Result {
        package var status: Int32
        package var stdout: Data
        package var stderr: String
    }

    package static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws(AFSError) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        do { try process.run() } catch {
            throw AFSError(.externalTool, "cannot run \(executable): \(error.localizedDescription)")
        }
        if let stdin {
            let writer = input.fileHandleForWriting
            Thread.detachNewThread {
                writer.write(stdin)
                try? writer.close()
            }
        }
        let errBox = DataBox()
        let errThread = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        errThread.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errBox.done { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: data, stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Finds a program on PATH.
    package static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    private final class DataBox: @unchecked Sendable {
        // @unchecked: written once by the reader thread, read after `done` is observed.
        private let lock = NSLock()
        private var _data = Data()
        private var _done = false
        var data: Data {
            get { lock.withLock { _data } }
            set { lock.withLock { _data = newValue; _done = true } }
        }
        var done: Bool { lock.withLock { _done } }
    }
}

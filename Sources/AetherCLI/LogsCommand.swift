import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether logs`: a live mount's log, found through the registry.
struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a live mount's log file (--follow to keep printing until the mount ends).",
        discussion: """
            A mount logs to its standard error: the file given by --log for `aether mount --background`
            (default CACHE_DIR/mount-SESSION.log), or wherever a foreground mount's stderr was redirected.
            A mount writing to a terminal has no file to print. Lines are text or JSON ([logging] format).
            """)

    @Argument(help: "The mounted directory (default: the only live mount).") var directory: String?
    @Flag(name: .shortAndLong, help: "Keep printing new lines until the mount exits (or Ctrl-C).") var follow = false
    @Option(name: .shortAndLong, help: "Print only the last N lines first.") var lines: Int?

    func run() throws {
        do throws(AFSError) {
            let mount = try MountRegistry.standard().find(directory)
            guard let path = mount.log else {
                throw AFSError(.notFound, "the mount at \(mount.mountpoint) writes its log to a terminal, not a file; start it with --background (--log FILE) or redirect its stderr")
            }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw AFSError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var existing = [UInt8]()
            while let chunk = try FileDescriptorReader.read(fd) { existing += chunk }
            if let lines {
                let kept = existing.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().suffix(max(0, lines))
                existing = Array(kept.joined(separator: [UInt8(ascii: "\n")])) + (kept.isEmpty ? [] : [UInt8(ascii: "\n")])
            }
            FileHandle.standardOutput.write(Data(existing))
            guard follow else { return }
            while true {
                var any = false
                while let chunk = try FileDescriptorReader.read(fd) {
                    FileHandle.standardOutput.write(Data(chunk))
                    any = true
                }
                if !any {
                    // The mount's last lines are written before its process ends; one more read after that.
                    if kill(mount.pid, 0) != 0 && errno == ESRCH {
                        while let chunk = try FileDescriptorReader.read(fd) { FileHandle.standardOutput.write(Data(chunk)) }
                        return
                    }
                    usleep(200_000)
                }
            }
        } catch {
            throw CLIError(error, json: false)
        }
    }
}

/// Reads what a file has now, 64 KiB at a time; nil at its current end.
private enum FileDescriptorReader {
    static func read(_ fd: Int32) throws(AFSError) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AFSError(.io, "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return nil }
            return Array(buffer[..<n])
        }
    }
}

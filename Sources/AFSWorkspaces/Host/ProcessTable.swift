import Foundation

/// Read-only views of /proc, for deciding whether a recorded pid is still the process we started.
///
/// `kill(pid, 0)` calls zombies alive and says nothing about pid reuse, so liveness here reads the
/// state letter from /proc/PID/stat and identity comes from /proc/PID/cmdline.
enum ProcessTable {
    /// Alive and not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let rest = stat[stat.index(after: close)...].drop(while: { $0 == " " })
        guard let state = rest.first else { return false }
        return state != "Z" && state != "X"
    }

    /// The parent pid, from /proc/PID/stat.
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    static func commandLine(_ pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    static func name(_ pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `pid` is alive and its command line contains `marker` as one argument or inside one.
    static func isAlive(_ pid: Int32, marked marker: String) -> Bool {
        isAlive(pid) && commandLine(pid).contains { $0.contains(marker) }
    }

    static func allPIDs() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    /// Live processes whose command line carries `marker` (how leftovers are found without a pid file).
    static func pids(marked marker: String) -> [Int32] {
        allPIDs().filter { $0 != getpid() && isAlive($0, marked: marker) }
    }

    /// The pid namespace of a process (`pid:[4026531836]`).
    static func pidNamespace(_ pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/pid")
    }

    /// Sends `signal` and waits up to `timeout` seconds for the process to die; true once it is gone.
    @discardableResult
    static func terminate(_ pid: Int32, signal: Int32, timeout: Double) -> Bool {
        guard isAlive(pid) else { return true }
        kill(pid, signal)
        return waitForExit(pid, timeout: timeout)
    }

    static func waitForExit(_ pid: Int32, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if !isAlive(pid) { return true }
            usleep(10_000)
        }
        return !isAlive(pid)
    }
}

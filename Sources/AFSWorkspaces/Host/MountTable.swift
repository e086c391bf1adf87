import Foundation

/// The host's mount table, so nothing is ever deleted through a live mount point.
enum MountTable {
    static func mountPoints() -> [String] {
        let mounts = String(decoding: readProcFile("/proc/self/mounts"), as: UTF8.self)
        return mounts.split(separator: "\n").compactMap { line in
            line.split(separator: " ").dropFirst().first.map { $0.replacingOccurrences(of: "\\040", with: " ") }
        }
    }

    static func isMounted(_ path: String) -> Bool { mountPoints().contains(path) }

    /// Lazily unmounts `path` if something is mounted there.
    static func unmount(_ path: String) {
        guard isMounted(path) else { return }
        _ = try? HostCommand.run(["umount", "-l", path], timeout: 10)
    }

    /// Removes `directory` and everything in it, after detaching any mount below it; refuses if a
    /// mount cannot be detached (deleting through it would delete the mounted files).
    static func removeTree(_ directory: String) throws(WorkspaceError) {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        for point in mountPoints() where point == directory || point.hasPrefix(directory + "/") { unmount(point) }
        if let still = mountPoints().first(where: { $0 == directory || $0.hasPrefix(directory + "/") }) {
            throw WorkspaceError(.io, "\(still) is still mounted; unmount it (umount -l \(still)) and delete again")
        }
        // A detached mount's process may still write its last log lines into the directory for a
        // moment after the kernel let go: retry briefly before reporting.
        var attempt = 0
        while true {
            do {
                try FileManager.default.removeItem(atPath: directory)
                return
            } catch {
                attempt += 1
                guard attempt < 20, FileManager.default.fileExists(atPath: directory) else {
                    throw WorkspaceError(.io, "cannot remove \(directory): \(error.localizedDescription)")
                }
                usleep(100_000)
            }
        }
    }

    /// The whole of a /proc file. Such files report a size of 0, and a reader that trusts the size
    /// or reads once gets only the first page: with many mounts, the newest (at the end of the
    /// table) went missing, so a fresh mount looked absent and a live one was never unmounted.
    static func readProcFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}

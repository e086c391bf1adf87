import Foundation

/// The host's mount table, so nothing is ever deleted through a live mount point.
enum MountTable {
    static func mountPoints() -> [String] {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return [] }
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
}

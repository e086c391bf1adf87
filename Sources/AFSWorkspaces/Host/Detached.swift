import Foundation

/// Starts a long-lived helper (virtiofsd, bubblewrap) in a session of its own, reparented away
/// from the controller, so it survives a controller restart and is never left as our zombie.
enum Detached {
    /// Spawns `argv` through `setsid -f` with output appended to `log`; its pid is written to
    /// `pidFile` by the process itself before it execs. With `fd3`, descriptor 3 of the program is
    /// that file opened for writing (bubblewrap's `--info-fd 3`).
    static func spawn(_ argv: [String], pidFile: String, log: String, fd3: String? = nil) throws(WorkspaceError) -> Int32 {
        unlink(pidFile)
        let script = fd3 == nil
            ? #"echo $$ > "$0"; exec "$@""#
            : #"echo $$ > "$0"; exec 3>"$1"; shift; exec "$@""#
        var command = ["setsid", "-f", "/bin/sh", "-c", script, pidFile]
        if let fd3 { command.append(fd3) }
        command += argv
        let r = try HostCommand.run(command, timeout: 10, logFile: log)
        guard r.status == 0 else { throw WorkspaceError(.driver, "cannot start \(argv[0]); see \(log)") }
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            if let pid = readPID(pidFile) { return pid }
            usleep(5_000)
        }
        throw WorkspaceError(.driver, "\(argv[0]) did not start within 5 s; see \(log)")
    }
}

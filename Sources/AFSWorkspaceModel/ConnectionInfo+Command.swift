extension ConnectionInfo {
    /// What to run inside a workspace.
    public enum Mode: Sendable, Equatable {
        /// A login shell on the caller's terminal.
        case interactive
        /// One shell command line; the exit status is the command's.
        case command(String)
        /// A script read from standard input.
        case script
    }

    /// The full argv that runs `mode` from this host.
    ///
    /// Everything starts in ``directory`` when there is one (a missing directory is not an error: the
    /// login directory then), and runs in the login user's shell (`$SHELL`), as ssh does.
    public func argv(for mode: Mode) -> [String] {
        guard let directory else {
            switch (kind, mode) {
            case ("ssh", .interactive): return argv.dropLast() + interactiveArgs + [argv.last!]
            case ("ssh", .command(let line)): return argv + [line]
            case ("ssh", .script): return argv + ["sh -s"]
            case (_, .interactive): return interactiveArgv + ["/bin/sh", "-l"]
            case (_, .command(let line)): return argv + ["/bin/sh", "-c", line]
            case (_, .script): return argv + ["/bin/sh", "-s"]
            }
        }
        let cd = "cd \(ConnectionInfo.quoted(directory)) 2>/dev/null; "
        let loginShell = #"exec "${SHELL:-/bin/sh}" -l"#
        switch (kind, mode) {
        // ssh runs a command line with the user's shell.
        case ("ssh", .interactive): return argv.dropLast() + interactiveArgs + [argv.last!, cd + loginShell]
        case ("ssh", .command(let line)): return argv + [cd + line]
        case ("ssh", .script): return argv + [cd + "exec sh -s"]
        case (_, .interactive): return interactiveArgv + ["/bin/sh", "-c", cd + loginShell]
        case (_, .command(let line)): return argv + ["/bin/sh", "-c", cd + #"exec "${SHELL:-/bin/sh}" -c "$0""#, line]
        case (_, .script): return argv + ["/bin/sh", "-c", cd + "exec /bin/sh -s"]
        }
    }

    /// A non-ssh argv with ``interactiveArgs`` after its `--` (or at the end when it has none).
    var interactiveArgv: [String] {
        guard let end = argv.firstIndex(of: "--") else { return argv + interactiveArgs }
        return Array(argv[...end]) + interactiveArgs + Array(argv[(end + 1)...])
    }

    /// `s` as one POSIX shell word.
    static func quoted(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

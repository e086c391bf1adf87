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
    public func argv(for mode: Mode) -> [String] {
        switch (kind, mode) {
        case ("ssh", .interactive): return argv.dropLast() + interactiveArgs + [argv.last!]
        case ("ssh", .command(let line)): return argv + [line]
        case ("ssh", .script): return argv + ["sh -s"]
        case (_, .interactive): return argv + ["/bin/sh", "-l"]
        case (_, .command(let line)): return argv + ["/bin/sh", "-c", line]
        case (_, .script): return argv + ["/bin/sh", "-s"]
        }
    }
}

import Foundation

/// A command prefix that opens a shell in the workspace from this host.
public struct ConnectionInfo: Sendable, Codable, Equatable {
    /// `ssh` or `nsenter`.
    public var kind: String
    /// The program and arguments to which the remote command is appended.
    public var argv: [String]
    /// Extra arguments for an interactive terminal session: ssh's `-t` (before the host, the last
    /// argument), or for nsenter a program prefix placed after its `--` (`setsid -c`: the shell gets
    /// a session of its own inside the sandbox's pid namespace, so job control and Ctrl-C work).
    public var interactiveArgs: [String]
    /// The project directory inside, where shells and commands start (nil: the login directory).
    public var directory: String?

    public init(kind: String, argv: [String], interactiveArgs: [String] = [], directory: String? = nil) {
        self.kind = kind
        self.argv = argv
        self.interactiveArgs = interactiveArgs
        self.directory = directory
    }

    enum CodingKeys: String, CodingKey {
        case kind, argv, directory
        case interactiveArgs = "interactive_args"
    }
}

import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether fsmonitor`: git's file-system monitor for repositories on a mounted session.
///
/// With it, `git status` asks the mount what changed since its last run (the session's
/// changefeed, plus files open for writing) instead of `lstat`ing every tracked file and reading
/// every directory: its work follows what changed, not the size of the tree. The answer's token
/// is a changefeed position, which outlives the mount, so the first `git status` after a remount
/// is as quick as the next.
struct FSMonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsmonitor",
        abstract: "Serve git's file-system monitor hook from a mounted session's changefeed.",
        discussion: """
            `aether fsmonitor enable DIR` configures the git repository whose work tree is DIR (on an
            `aether mount`) to ask the mount what changed: core.fsmonitor = "DIR-OF-AETHER/aether-fsmonitor" (a
            small executable that starts in ~2 ms; "AETHER fsmonitor hook" where it is not installed),
            core.fsmonitorHookVersion = 2 and core.untrackedCache = true. git then runs the hook with
            `2 TOKEN` in the work tree before it looks at files.

            The answer lists every path the session's changefeed names since TOKEN (writes through this
            mount, through other mounts and through the API alike) and every file open for writing
            through the mount. An unknown token (the first query, an index from another session),
            an expired changefeed cursor, or a restore or undo answers "everything", and git checks
            every file, as without a monitor. Outside a mount the hook fails and git does the same.
            """,
        subcommands: [Hook.self, Enable.self, Disable.self]
    )

    /// The hook git runs: `aether fsmonitor hook VERSION TOKEN`, in the work tree.
    struct Hook: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer one query of git's fsmonitor hook protocol (version 2); git runs this.")

        @Argument(help: "Hook protocol version git speaks (only 2 is served).") var version: Int
        @Argument(help: "The token of git's previous answer (opaque; empty or unknown means none).") var token: String = ""

        func run() throws {
            try Hook.answer(version: version, token: token)
        }

        /// `VERSION [TOKEN]` when that is all the arguments hold: ``AetherMain`` then answers
        /// without building the command tree. git runs the hook before every `git status`, and
        /// ArgumentParser's reflection over aether's many commands costs more than the answer.
        static func fastArguments(_ arguments: [String]) -> (version: Int, token: String)? {
            guard arguments.count == 3 || arguments.count == 4, arguments[0] == "fsmonitor", arguments[1] == "hook",
                let version = Int(arguments[2])
            else { return nil }
            return (version, arguments.count == 4 ? arguments[3] : "")
        }

        /// Asks the mount holding the current directory (git's work tree) what changed since
        /// `token` and writes the answer in the hook protocol's form (the same query as
        /// `aether-fsmonitor`, ``FSMonitorQuery``).
        static func answer(version: Int, token: String) throws(CLIError) {
            do {
                let output = try FSMonitorQuery.answer(
                    version: version, token: token, workTree: MountRegistry.canonical(FileManager.default.currentDirectoryPath),
                    registry: MountRegistry.standard().directory)
                FileHandle.standardOutput.write(Data(output))
            } catch {
                throw CLIError(AFSError(AFSError.Code(rawValue: error.code) ?? .io, error.message), json: false)
            }
        }
    }

    /// The git settings `enable` writes, and `disable` removes.
    static func settings(hook: String) -> [(String, String)] {
        [("core.fsmonitor", hook), ("core.fsmonitorHookVersion", "2"), ("core.untrackedCache", "true")]
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the git repository at DIR (on a mount) use aether's fsmonitor hook.")

        @Argument(help: "The repository's work tree, on an `aether mount` (default: the current directory).") var directory: String = "."
        @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

        func run() throws {
            do throws(AFSError) {
                let workTree = MountRegistry.canonical(directory)
                let mount = try MountRegistry.standard().find(workTree)
                let hook = FSMonitorCommand.hookCommand()
                for (key, value) in FSMonitorCommand.settings(hook: hook) {
                    try FSMonitorCommand.git(["-C", workTree, "config", key, value])
                }
                let result: [String: String] = ["work_tree": workTree, "mountpoint": mount.mountpoint, "session": mount.session, "hook": hook]
                Output.emit(result, json: json) {
                    "git in \(workTree) now asks the mount of session \(mount.session) what changed (core.fsmonitor = \(hook))"
                }
            } catch {
                throw CLIError(error, json: json)
            }
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the git repository at DIR from using aether's fsmonitor hook.")

        @Argument(help: "The repository's work tree (default: the current directory).") var directory: String = "."
        @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

        func run() throws {
            do throws(AFSError) {
                let workTree = MountRegistry.canonical(directory)
                for (key, _) in FSMonitorCommand.settings(hook: "") {
                    // Exit code 5 means the key was not set: nothing to undo.
                    try FSMonitorCommand.git(["-C", workTree, "config", "--unset", key], allowing: [5])
                }
                Output.emit(["work_tree": workTree], json: json) { "git in \(workTree) no longer uses aether's fsmonitor hook" }
            } catch {
                throw CLIError(error, json: json)
            }
        }
    }

    /// What core.fsmonitor runs, by absolute path (git runs it from any shell): `aether-fsmonitor`
    /// installed beside this executable, which starts several times faster, else this very
    /// executable's `fsmonitor hook`.
    static func hookCommand() -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let companion = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("aether-fsmonitor").path
        if FileManager.default.isExecutableFile(atPath: companion) { return FSMonitorCommand.shellQuoted(companion) }
        return FSMonitorCommand.shellQuoted(executable) + " fsmonitor hook"
    }

    /// Runs git; fails with its message unless it exits 0 or with one of `allowing`.
    @discardableResult
    static func git(_ arguments: [String], allowing: Set<Int32> = []) throws(AFSError) -> Int32 {
        guard let git = Subprocess.which("git") else { throw AFSError(.externalTool, "git is not installed (apt-get install git)") }
        let result = try Subprocess.run(git, arguments)
        guard result.status == 0 || allowing.contains(result.status) else {
            throw AFSError(.externalTool, "git \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.status
    }

    /// `text` as one word for `sh` (git runs the hook through the shell).
    static func shellQuoted(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "/._-+".unicodeScalars.contains($0) }
        return plain ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

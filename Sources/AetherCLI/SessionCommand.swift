import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Create, fork, checkpoint, commit and promote sessions.",
        subcommands: [
            Create.self, List.self, Get.self, Fork.self, Checkpoint.self, Checkpoints.self, Restore.self, Commit.self,
            Promote.self, Diff.self, Manifest.self, Archive.self, Delete.self, Export.self, Log.self, Undo.self,
        ])

    static func describe(_ s: SessionInfo) -> String {
        """
        id:       \(s.id)
        name:     \(s.name ?? "-")
        status:   \(s.status.rawValue)
        source:   \(s.source)
        parent:   \(s.parentID ?? "-")
        commit:   \(s.headCommit ?? s.baseCommit ?? "-")
        root:     \(s.root.hex)
        created:  \(ISO8601DateFormatter().string(from: s.createdAt))
        """
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a session from exactly one source.",
            discussion: "Example: aether session create --name base --from-git ~/src/app --ref main")
        @OptionGroup var global: GlobalOptions
        @Option(help: "A human-friendly name.") var name: String?
        @Flag(help: "Start empty.") var blank = false
        @Option(name: .customLong("from-dir"), help: ArgumentHelp("Import a local directory.", valueName: "PATH")) var fromDir: String?
        @Option(name: .customLong("from-tar"), help: ArgumentHelp("Import a tar archive.", valueName: "FILE")) var fromTar: String?
        @Option(name: .customLong("from-git"), help: ArgumentHelp("Import a git repository's tree at --ref.", valueName: "REPO")) var fromGit: String?
        @Option(help: "Git ref for --from-git (default HEAD).") var ref: String = "HEAD"
        @Option(name: .customLong("from-session"), help: ArgumentHelp("Fork another session.", valueName: "ID")) var fromSession: String?
        @Option(name: .customLong("from-checkpoint"), help: ArgumentHelp("Start from a checkpoint.", valueName: "ID")) var fromCheckpoint: String?
        @Option(name: .customLong("from-commit"), help: ArgumentHelp("Start from a commit.", valueName: "ID")) var fromCommit: String?
        @Option(name: .customLong("from-snapshot"), help: ArgumentHelp("Start from a named snapshot.", valueName: "NAME")) var fromSnapshot: String?
        @Flag(
            name: .customLong("same-owner"),
            help: "Record the numeric owners of --from-dir or --from-tar entries (as tar --same-owner); without it they belong to whoever mounts the session.")
        var sameOwner = false

        func validate() throws {
            let count = [blank ? "" : nil, fromDir, fromTar, fromGit, fromSession, fromCheckpoint, fromCommit, fromSnapshot].compactMap { $0 }.count
            guard count == 1 else {
                throw ValidationError("give exactly one source: --blank, --from-dir, --from-tar, --from-git, --from-session, --from-checkpoint, --from-commit or --from-snapshot")
            }
        }

        func run() throws {
            let source: SessionSource
            if let fromDir { source = .directory(fromDir) }
            else if let fromTar { source = .tar(fromTar) }
            else if let fromGit { source = .git(repository: fromGit, ref: ref) }
            else if let fromSession { source = .session(fromSession) }
            else if let fromCheckpoint { source = .checkpoint(fromCheckpoint) }
            else if let fromCommit { source = .commit(fromCommit) }
            else if let fromSnapshot { source = .snapshot(fromSnapshot) }
            else { source = .blank }
            try global.run { (store) throws(AFSError) in
                let progress = Output.progressReporter()
                let info = try store.createSession(name: name, from: source, context: global.context(), preserveOwners: sameOwner, progress: progress)
                if progress != nil { Output.endProgress() }
                global.emit(info) { info.id }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sessions.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only sessions with this status (active, pending-approval, approved, rejected, committed, archived).")
        var status: String?

        func run() throws {
            var filter: SessionStatus?
            if let status {
                guard let s = SessionStatus(rawValue: status) else { throw ValidationError("unknown status '\(status)'") }
                filter = s
            }
            try global.run { (store) throws(AFSError) in
                let all = try store.sessions(status: filter)
                global.emit(all) {
                    all.map { "\($0.id)  \($0.status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))  \($0.name ?? "-")  \($0.source)" }
                        .joined(separator: "\n")
                }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one session.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let info = try store.session(id)
                global.emit(info) { SessionCommand.describe(info) }
            }
        }
    }

    struct Fork: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fork a session: O(1), whatever its size.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session to fork.") var id: String
        @Option(help: "Name of the new session.") var name: String?

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let info = try store.fork(id, name: name, context: global.context())
                global.emit(info) { info.id }
            }
        }
    }

    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a restorable checkpoint of a session.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "A label to remember it by.") var label: String?

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let c = try store.checkpoint(id, label: label, context: global.context())
                global.emit(c) { c.id }
            }
        }
    }

    struct Checkpoints: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a session's checkpoints.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.checkpoints(of: id)
                global.emit(all) { all.map { "\($0.id)  \($0.label ?? "-")  \(ISO8601DateFormatter().string(from: $0.createdAt))" }.joined(separator: "\n") }
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a session back to one of its checkpoints.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Checkpoint ID.") var checkpoint: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.restore(id, checkpoint: checkpoint, context: global.context())
                global.emit(["id": id, "checkpoint": checkpoint]) { "restored \(id) to \(checkpoint)" }
            }
        }
    }

    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the session's tree as an immutable commit.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(name: .shortAndLong, help: "Commit message.") var message: String
        @Option(help: "Author (default: the actor).") var author: String?

        func run() throws {
            let who = author ?? global.actorName
            try global.run { (store) throws(AFSError) in
                let c = try store.commit(id, message: message, author: who, context: global.context())
                global.emit(c) { c.id }
            }
        }
    }

    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a ref to the session's latest commit (fast-forward or three-way merge).",
            discussion: "Exits with 4 and lists the paths when the merge conflicts; the ref is then unchanged.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Ref to move, e.g. main.") var ref: String
        @Option(name: .customLong("lock-token"), help: "Fencing token of your lease, if the changed paths are leased.") var lockToken: UInt64?

        func run() throws {
            var conflicted: PromoteResult?
            try global.run { (store) throws(AFSError) in
                let r = try store.promote(id, ref: ref, context: global.context(lockToken: lockToken))
                global.emit(r) {
                    r.outcome == .conflicted
                        ? "conflicts promoting into \(r.ref):\n" + r.conflicts.map { "  \($0)" }.joined(separator: "\n")
                        : "\(r.ref): \(r.outcome.rawValue) -> \(r.commitID ?? "-")"
                }
                if r.outcome == .conflicted { conflicted = r }
            }
            if conflicted != nil { throw ExitCode(4) }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What changed from OTHER to this session.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID (the new side).") var id: String
        @Option(help: "Session, checkpoint, commit, ref or snapshot (the old side).") var against: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let changes = try store.diff(id, against: against)
                global.emit(changes) {
                    changes.map { c -> String in
                        let mark = c.change == .added ? "A" : c.change == .deleted ? "D" : "M"
                        return "\(mark) \(c.path)"
                    }.joined(separator: "\n")
                }
            }
        }
    }

    struct Manifest: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every file with size, mode and content ID.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let m = try store.manifest(id)
                global.emit(m) { m.map { "\($0.contentID ?? "->" + ($0.target ?? ""))  \(Output.mode($0.mode))  \($0.size)  \($0.path)" }.joined(separator: "\n") }
            }
        }
    }

    struct Archive: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a session read-only.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.archive(id, context: global.context())
                let info = try store.session(id)
                global.emit(info) { "archived \(id)" }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a session (space returns at the next `store gc`).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.delete(id)
                global.emit(["id": id, "deleted": "true"]) { "deleted \(id)" }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a session's files to a tar archive.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(name: .shortAndLong, help: "Output file (.tar), or - for stdout.") var output: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                if output == "-" {
                    try store.exportTar(id, to: 1)
                } else {
                    try Export.write(output) { (fd) throws(AFSError) in try store.exportTar(id, to: fd) }
                    global.emit(["id": id, "output": output]) { "wrote \(output)" }
                }
            }
        }
    }
}

extension SessionCommand.Export {
    /// Writes through a temporary name and renames at the end: a failed export leaves no half file.
    static func write(_ path: String, _ body: (Int32) throws(AFSError) -> Void) throws(AFSError) {
        let partial = path + ".partial"
        let fd = open(partial, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let err = errno
            throw AFSError(.io, "cannot create \(partial): \(String(cString: strerror(err)))")
        }
        do throws(AFSError) {
            try body(fd)
            guard fsync(fd) == 0, close(fd) == 0, rename(partial, path) == 0 else {
                let err = errno
                throw AFSError(.io, "cannot finish \(path): \(String(cString: strerror(err)))")
            }
        } catch {
            close(fd)
            unlink(partial)
            throw error
        }
    }
}

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Named templates that sessions start from.", subcommands: [Create.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Name a session's current tree.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Snapshot name.") var name: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let s = try store.createSnapshot(of: id, name: name)
                global.emit(s) { s.name }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List snapshots.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.snapshots()
                global.emit(all) { all.map { "\($0.name)  from \($0.sessionID ?? "-")" }.joined(separator: "\n") }
            }
        }
    }
}

struct RefCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ref", abstract: "Named refs and their promote policies.", subcommands: [List.self, Policy.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List refs and the commits they point to.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.refs()
                global.emit(all) { all.map { "\($0.name)  \($0.commitID)" }.joined(separator: "\n") }
            }
        }
    }
}

import AFSCore
import ArgumentParser
import Foundation

/// `aether`: the AetherFS command line. Every command works on an embedded store (`--store DIR` or
/// `AFS_STORE`); the remote transport arrives with the server.
public struct AetherCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aether",
        abstract: "Copy-on-write workspaces for fleets of coding agents.",
        discussion: """
            Sessions are copy-on-write file trees over a shared, deduplicated store: a fork is a metadata
            operation and storage grows only with real changes.

            Every command takes --store DIR (or the AFS_STORE environment variable) and --json.
            Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 conflict or already exists,
            5 invalid path or argument, 6 store in use, 7 corrupted data, 8 I/O error,
            9 changefeed cursor expired, 10 refused by a lease or fencing token, 11 refused by policy.
            """,
        subcommands: [
            SessionCommand.self, SnapshotCommand.self, FSCommand.self, StoreCommand.self, RefCommand.self, ChangesCommand.self,
            BusCommand.self, LockCommand.self, AnnotateCommand.self, AnnotationsCommand.self, ReviewCommand.self, KnowledgeCommand.self,
            DemoCommand.self,
        ]
    )

    public init() {}
}

/// Options every store command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Store directory (default: $AFS_STORE).", valueName: "DIR"))
    var store: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Who is acting, recorded in the changefeed (default: $AETHER_ACTOR, then $USER).", valueName: "NAME"))
    var actor: String?

    var actorName: String {
        actor ?? ProcessInfo.processInfo.environment["AETHER_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"
    }

    func context(lockToken: UInt64? = nil) -> MutationContext { MutationContext(actor: actorName, lockToken: lockToken) }

    func openStore() throws -> AetherStore {
        guard let dir = store ?? ProcessInfo.processInfo.environment["AFS_STORE"], !dir.isEmpty else {
            throw CLIError(AFSError(.invalidArgument, "no store given: pass --store DIR or set AFS_STORE"), json: json)
        }
        // Wait briefly for another aether process (a follower polling, a concurrent write) to let go.
        var options = AetherStore.Options()
        options.lockWait = 10
        do { return try AetherStore.open(at: dir, options: options) } catch { throw CLIError(error, json: json) }
    }

    /// Opens the store, runs `body`, closes the store, and turns errors into one-line messages.
    func run(_ body: (AetherStore) throws(AFSError) -> Void) throws {
        let store = try openStore()
        do {
            try body(store)
            try store.close()
        } catch {
            try? store.close()
            throw CLIError(error, json: json)
        }
    }

    func emit<T: Encodable>(_ value: T, text: () -> String) {
        if json {
            print(Output.json(value))
        } else {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }
}

/// An AFSError on its way out: one line on stderr (or a JSON object with --json) and an exit code.
struct CLIError: Error, CustomStringConvertible {
    let error: AFSError
    let json: Bool

    init(_ error: AFSError, json: Bool) {
        self.error = error
        self.json = json
    }

    var description: String { error.message }

    var exitCode: Int32 {
        switch error.code {
        case .notFound: return 3
        case .conflict, .alreadyExists, .notEmpty, .wrongKind: return 4
        case .invalidPath, .invalidArgument: return 5
        case .storeLocked: return 6
        case .corrupted, .unsupportedFormat: return 7
        case .io, .externalTool: return 8
        case .expired: return 9
        case .locked: return 10
        case .forbidden: return 11
        }
    }
}

enum Output {
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[i])
    }

    static func mode(_ m: UInt32) -> String { String(m, radix: 8) }

    /// Progress on stderr, only when stderr is a terminal.
    static func progressReporter() -> (@Sendable (ImportProgress) -> Void)? {
        guard isatty(2) == 1 else { return nil }
        return { p in
            FileHandle.standardError.write(Data("\rimporting: \(p.files) files, \(bytes(p.bytes))   ".utf8))
        }
    }

    static func endProgress() {
        if isatty(2) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Entry point used by the `aether` executable: maps errors to exit codes.
public enum AetherMain {
    public static func main(_ arguments: [String]? = nil) -> Never {
        do {
            var command = try AetherCommand.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch let e as CLIError {
            if e.json {
                let body = ["error": ["code": e.error.code.rawValue, "message": e.error.message]]
                FileHandle.standardError.write(Data((Output.json(body) + "\n").utf8))
            } else {
                FileHandle.standardError.write(Data("error: \(e.error.message)\n".utf8))
            }
            exit(e.exitCode)
        } catch {
            AetherCommand.exit(withError: error)
        }
    }
}

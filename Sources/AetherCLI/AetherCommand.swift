import AFSClient
import AFSCore
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

/// `aether`: the AetherFS command line. Every command works the same on an embedded store
/// (`--store DIR`) and on an afs-server (`--endpoint URL`).
public struct AetherCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aether",
        abstract: "Copy-on-write workspaces for fleets of coding agents.",
        discussion: """
            Sessions are copy-on-write file trees over a shared, deduplicated store: a fork is a metadata
            operation and storage grows only with real changes.

            Every command runs on an embedded store (--store DIR, or AFS_STORE) or on an afs-server
            (--endpoint URL and --token TOKEN, or AFS_AETHER_SERVER_ENDPOINT and AFS_TOKEN, or
            [bridge] server_endpoint and token in ~/.config/aether/config.toml), and takes --json.
            Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 conflict or already exists,
            5 invalid path or argument, 6 store in use, 7 corrupted data, 8 I/O error,
            9 changefeed cursor expired, 10 refused by a lease or fencing token, 11 refused by policy
            or by the server (token, role), 12 server unreachable or busy, 13 a wait timed out,
            14 the server's TLS certificate failed verification (unknown CA, expired, another host's;
            https:// endpoints are checked against the system's CAs, or --ca-cert FILE, AETHER_CA_CERT
            or [bridge] ca_cert).
            """,
        subcommands: [
            SessionCommand.self, SnapshotCommand.self, FSCommand.self, StoreCommand.self, RefCommand.self, ChangesCommand.self,
            BusCommand.self, LockCommand.self, AnnotateCommand.self, AnnotationsCommand.self, ReviewCommand.self, KnowledgeCommand.self,
            TokenCommand.self, MountCommand.self, UnmountCommand.self, SyncCommand.self, CheckpointCommand.self, CacheCommand.self, MetricsCommand.self,
            StatusCommand.self, DoctorCommand.self, LogCommand.self, LogsCommand.self, FSMonitorCommand.self, WorkspaceCommand.self, DemoCommand.self,
        ]
    )

    public init() {}
}

/// Options every store command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Embedded store directory (default: $AFS_STORE).", valueName: "DIR"))
    var store: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "afs-server to talk to instead of an embedded store (default: $AFS_AETHER_SERVER_ENDPOINT, then [bridge] server_endpoint in ~/.config/aether/config.toml).",
            valueName: "URL"))
    var endpoint: String?

    @Option(name: .long, help: ArgumentHelp("Bearer token for --endpoint (default: $AFS_TOKEN, then [bridge] token).", valueName: "TOKEN"))
    var token: String?

    @Option(
        name: .customLong("ca-cert"),
        help: ArgumentHelp(
            "PEM file of the CA(s) an https:// endpoint's certificate must chain to, instead of the system's (default: $AETHER_CA_CERT, then [bridge] ca_cert).",
            valueName: "FILE"))
    var caCert: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Who is acting, recorded in the changefeed (default: $AETHER_ACTOR, then $USER).", valueName: "NAME"))
    var actor: String?

    var actorName: String {
        actor ?? ProcessInfo.processInfo.environment["AETHER_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"
    }

    func context(lockToken: UInt64? = nil) -> MutationContext { MutationContext(actor: actorName, lockToken: lockToken) }

    /// Which transport a command uses.
    enum Target {
        case embedded(String)
        case remote(endpoint: String, token: String?, trust: TLSTrust)
    }

    /// Flags first, then the environment, then the config file. Naming both a store and an
    /// endpoint at the same level is ambiguous and refused rather than guessed.
    func target() throws(AFSError) -> Target {
        let env = ProcessInfo.processInfo.environment
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        var config: ClientConfiguration?
        func file() throws(AFSError) -> ClientConfiguration {
            if let config { return config }
            let loaded = try ClientConfiguration.load()
            config = loaded
            return loaded
        }
        func tokenValue() throws(AFSError) -> String? {
            if let t = nonEmpty(token) ?? nonEmpty(env["AFS_TOKEN"]) { return t }
            return nonEmpty(try file()["bridge.token"])
        }
        func trust() throws(AFSError) -> TLSTrust {
            var path = nonEmpty(caCert) ?? nonEmpty(env["AETHER_CA_CERT"])
            if path == nil { path = nonEmpty(try file()["bridge.ca_cert"]) }
            return TLSTrust(caCertificatePath: path.map { ($0 as NSString).expandingTildeInPath })
        }
        switch (nonEmpty(store), nonEmpty(endpoint)) {
        case (.some, .some): throw AFSError(.invalidArgument, "give --store or --endpoint, not both")
        case (.some(let dir), nil): return .embedded(dir)
        case (nil, .some(let url)): return .remote(endpoint: url, token: try tokenValue(), trust: try trust())
        case (nil, nil): break
        }
        switch (nonEmpty(env["AFS_STORE"]), nonEmpty(env["AFS_AETHER_SERVER_ENDPOINT"])) {
        case (.some, .some):
            throw AFSError(.invalidArgument, "both AFS_STORE and AFS_AETHER_SERVER_ENDPOINT are set; unset one, or pass --store or --endpoint")
        case (.some(let dir), nil): return .embedded(dir)
        case (nil, .some(let url)): return .remote(endpoint: url, token: try tokenValue(), trust: try trust())
        case (nil, nil): break
        }
        if let url = nonEmpty(try file()["bridge.server_endpoint"]) { return .remote(endpoint: url, token: try tokenValue(), trust: try trust()) }
        throw AFSError(
            .invalidArgument,
            "no store given: pass --store DIR (or set AFS_STORE) for an embedded store, or --endpoint URL (or AFS_AETHER_SERVER_ENDPOINT, or [bridge] server_endpoint in \(ClientConfiguration.defaultPath())) for afs-server")
    }

    var isRemote: Bool {
        if case .remote = try? target() { return true }
        return false
    }

    func openStore(tuning: (inout AetherStore.Options) -> Void = { _ in }) throws -> any AetherService {
        do {
            switch try target() {
            case .embedded(let dir):
                // Wait briefly for another aether process (a follower polling, a concurrent write) to let go.
                var options = AetherStore.Options()
                options.lockWait = 10
                tuning(&options)
                return try AetherStore.open(at: dir, options: options)
            case .remote(let endpoint, let token, let trust):
                return try RemoteStore(endpoint: endpoint, token: token, trust: trust)
            }
        } catch {
            throw CLIError(error, json: json)
        }
    }

    /// The server, for commands that exist only there (tokens).
    func remote(for what: String) throws -> RemoteStore {
        do throws(AFSError) {
            guard case .remote(let endpoint, let token, let trust) = try target() else {
                throw AFSError(.invalidArgument, "\(what) talks to afs-server: pass --endpoint URL or set AFS_AETHER_SERVER_ENDPOINT")
            }
            return try RemoteStore(endpoint: endpoint, token: token, trust: trust)
        } catch {
            throw CLIError(error, json: json)
        }
    }

    /// The store as a service several threads may share, and its transport's name. Both
    /// transports are thread-safe classes; `Sendable` is a marker protocol, so this checks the
    /// concrete types rather than casting.
    static func threadSafe(_ store: any AetherService) throws(AFSError) -> (any AetherService & Sendable, transport: String) {
        if let embedded = store as? AetherStore { return (embedded, "embedded") }
        if let remote = store as? RemoteStore { return (remote, "remote") }
        throw AFSError(.invalidArgument, "this needs an embedded store or an afs-server endpoint")
    }

    /// Opens the store (or connects), runs `body`, closes, and turns errors into one-line messages.
    func run(tuning: (inout AetherStore.Options) -> Void = { _ in }, _ body: (any AetherService) throws(AFSError) -> Void) throws {
        let store = try openStore(tuning: tuning)
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

/// An error on its way out: one line on stderr (or a JSON object with --json) and an exit code.
struct CLIError: Error, CustomStringConvertible {
    let json: Bool
    /// The stable code printed with --json (`not_found`, `timeout`, …).
    let code: String
    let message: String
    let exitCode: Int32

    init(_ error: AFSError, json: Bool) {
        self.json = json
        code = error.code.rawValue
        message = error.message
        switch error.code {
        case .notFound: exitCode = 3
        case .conflict, .alreadyExists, .notEmpty, .wrongKind: exitCode = 4
        case .invalidPath, .invalidArgument: exitCode = 5
        case .storeLocked: exitCode = 6
        case .corrupted, .unsupportedFormat: exitCode = 7
        case .io, .externalTool: exitCode = 8
        case .expired: exitCode = 9
        case .locked: exitCode = 10
        case .forbidden: exitCode = 11
        case .unavailable: exitCode = 12
        case .untrustedServer: exitCode = 14
        }
    }

    /// Errors of `aether workspace`, on the same exit-code scale (13: a wait timed out).
    init(_ error: WorkspaceError, json: Bool) {
        self.json = json
        code = error.code.rawValue
        message = error.message
        switch error.code {
        case .notFound: exitCode = 3
        case .conflict: exitCode = 4
        case .invalidArgument: exitCode = 5
        case .driver, .io: exitCode = 8
        case .unauthorized: exitCode = 11
        case .unavailable: exitCode = 12
        case .timeout: exitCode = 13
        case .untrustedServer: exitCode = 14
        }
    }

    var description: String { message }
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

    /// Prints `value` as JSON with `json`, else `text()` (commands without a store use this).
    static func emit<T: Encodable>(_ value: T, json: Bool, text: () -> String) {
        if json {
            print(Output.json(value))
        } else {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }

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
            if let hook = FSMonitorCommand.Hook.fastArguments(arguments ?? Array(CommandLine.arguments.dropFirst())) {
                try FSMonitorCommand.Hook.answer(version: hook.version, token: hook.token)
                exit(0)
            }
            var command = try AetherCommand.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch let e as CLIError {
            if e.json {
                let body = ["error": ["code": e.code, "message": e.message]]
                FileHandle.standardError.write(Data((Output.json(body) + "\n").utf8))
            } else {
                FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            }
            exit(e.exitCode)
        } catch {
            AetherCommand.exit(withError: error)
        }
    }
}

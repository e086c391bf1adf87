import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

/// How `aether workspace` reaches afs-vmd.
struct WorkspaceOptions: ParsableArguments {
    @Option(name: .customLong("workspaces-endpoint"), help: ArgumentHelp("afs-vmd URL (default: $AFS_WORKSPACES_ENDPOINT, [workspaces] endpoint, http://127.0.0.1:8790).", valueName: "URL"))
    var endpoint: String?

    @Option(name: .customLong("workspaces-token"), help: ArgumentHelp("afs-vmd token (default: $AFS_WORKSPACES_TOKEN, [workspaces] token or token_file).", valueName: "TOKEN"))
    var token: String?

    @Option(
        name: .customLong("ca-cert"),
        help: ArgumentHelp(
            "PEM file of the CA(s) an https:// afs-vmd's certificate must chain to (default: $AETHER_CA_CERT, [workspaces] ca_cert, [bridge] ca_cert).",
            valueName: "FILE"))
    var caCert: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    func client() throws -> WorkspacesClient {
        let env = ProcessInfo.processInfo.environment
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        let config: ClientConfiguration
        do { config = try ClientConfiguration.load() } catch { throw CLIError(error, json: json) }
        let url = nonEmpty(endpoint) ?? nonEmpty(env["AFS_WORKSPACES_ENDPOINT"]) ?? nonEmpty(config["workspaces.endpoint"]) ?? "http://127.0.0.1:8790"
        var secret = nonEmpty(token) ?? nonEmpty(env["AFS_WORKSPACES_TOKEN"]) ?? nonEmpty(config["workspaces.token"])
        if secret == nil, let file = nonEmpty(config["workspaces.token_file"]) {
            secret = (try? String(contentsOfFile: (file as NSString).expandingTildeInPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let ca = nonEmpty(caCert) ?? nonEmpty(env["AETHER_CA_CERT"]) ?? nonEmpty(config["workspaces.ca_cert"]) ?? nonEmpty(config["bridge.ca_cert"])
        let trust = TLSTrust(caCertificatePath: ca.map { ($0 as NSString).expandingTildeInPath })
        return try call { () throws(WorkspaceError) in try WorkspacesClient(endpoint: url, token: secret, trust: trust) }
    }

    /// Runs a client call, turning its error into the CLI's exit code.
    func call<T>(_ body: () throws(WorkspaceError) -> T) throws -> T {
        do { return try body() } catch { throw CLIError(error, json: json) }
    }

    func emit<T: Encodable>(_ value: T, text: () -> String) {
        if json {
            print(Output.json(value))
        } else {
            let t = text()
            if !t.isEmpty { print(t) }
        }
    }

    /// A state named on the command line, or a usage error listing the valid ones.
    func status(_ raw: String, flag: String) throws -> WorkspaceStatus {
        guard let s = WorkspaceStatus(rawValue: raw) else {
            throw CLIError(WorkspaceError(.invalidArgument, "\(flag) must be one of \(WorkspaceStatus.allCases.map(\.rawValue).joined(separator: ", "))"), json: json)
        }
        return s
    }

    /// Progress on stderr, only on a terminal and never with --json.
    func progress(_ line: String) {
        guard !json, isatty(2) == 1 else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

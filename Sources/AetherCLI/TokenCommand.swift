import AFSClient
import AFSWire
import AFSCore
import ArgumentParser
import Foundation

/// `aether token …`: bearer tokens of an afs-server (needs --endpoint and, to create or revoke,
/// an admin token).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke afs-server tokens.",
        discussion: """
            Tokens belong to a tenant and carry a role: reader (read), writer (read and change), admin
            (also manage tokens). A tenant's sessions are invisible to other tenants. The secret is
            printed once, at creation; the server keeps only its hash.
            Example: aether --endpoint http://127.0.0.1:8787 --token "$(cat aether-data/admin.token)" token create --tenant acme --role writer
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; prints its secret (shown once).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Tenant the token acts for.") var tenant: String
        @Option(help: "reader, writer or admin.") var role: String = "writer"
        @Option(help: "A note to recognise it by.") var label: String?

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("--role must be reader, writer or admin") }
        }

        func run() throws {
            let server = try global.remote(for: "aether token create")
            do {
                let t = try server.createToken(tenant: tenant, role: Role(rawValue: role) ?? .reader, label: label)
                global.emit(t) { t.token }
            } catch { throw CLIError(error, json: global.json) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (admins see every tenant's).")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let server = try global.remote(for: "aether token list")
            do {
                let all = try server.tokens()
                global.emit(all) {
                    all.map { t in
                        let created = ISO8601DateFormatter().string(from: t.createdAt)
                        return "\(t.id)  \(t.tenant)  \(t.role.rawValue)  \(created)  \(t.label ?? "")"
                    }.joined(separator: "\n")
                }
            } catch { throw CLIError(error, json: global.json) }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its ID (not its secret).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Token ID, as `token list` shows it.") var id: String

        func run() throws {
            let server = try global.remote(for: "aether token revoke")
            do {
                try server.revokeToken(id)
                global.emit(["revoked": id]) { "revoked \(id)" }
            } catch { throw CLIError(error, json: global.json) }
        }
    }
}

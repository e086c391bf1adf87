import AFSSupport
import AFSConfig
import AFSClient
import AFSCore
import AFSObjectStore
import AFSPostgres
import AFSServer
import AFSTLS
import ArgumentParser
import CSystemExtras
import Foundation

/// `afs-server`: the AetherFS service over HTTP and gRPC, on the embedded store or on the
/// clustered backend (PostgreSQL + S3); `afs-server migrate` prepares a PostgreSQL catalog.
@main
struct AFSServerMain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "afs-server",
        abstract: "The AetherFS service.",
        subcommands: [AFSServerCommand.self, MigrateCommand.self],
        defaultSubcommand: AFSServerCommand.self)
}

/// `afs-server migrate`: creates or upgrades the PostgreSQL catalog's schema and exits.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the PostgreSQL catalog's schema, then exit.",
        discussion: """
            Applies every schema migration the database lacks, each in one transaction; several servers starting at
            once apply each migration once. `serve` also migrates on start; this command lets an operator do it
            ahead of a rollout. A database migrated by a newer build is refused. The URL comes from --catalog,
            AFS_CATALOG or [storage] catalog in --config; a password from the URL or PGPASSWORD.
            """)

    @Option(help: ArgumentHelp("The catalog: postgres://USER@HOST:PORT/DATABASE[?sslmode=disable|prefer|require].", valueName: "URL"))
    var catalog: String?
    @Option(help: ArgumentHelp("TOML config file.", valueName: "FILE")) var config: String?
    @Option(
        name: .customLong("catalog-wait"),
        help: ArgumentHelp("Keep retrying an unreachable catalog this long before failing (default 30).", valueName: "SECONDS"))
    var catalogWait: Double?
    @Flag(help: "Print the outcome as JSON.") var json = false

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var file: ConfigFile?
        if let path = config ?? env["AFS_CONFIG"] {
            do { file = try ConfigFile(path: path) } catch { throw ValidationError("\(error)") }
        }
        guard let url = catalog ?? env["AFS_CATALOG"] ?? file?["storage.catalog"] else {
            throw ValidationError("no catalog: pass --catalog postgres://USER@HOST:PORT/DATABASE (or set AFS_CATALOG)")
        }
        do throws(AFSError) {
            let location = try PostgresLocation(parsing: url)
            let backend = try PostgresBackend.connect(
                location, options: try AFSServerCommand.catalogOptions(catalogWait, env: env, file: file),
                onRetry: AFSServerCommand.reportCatalogRetry)
            defer { backend.close() }
            let version = try backend.schemaVersion()
            if json {
                print(#"{"catalog":"\#(location)","schema_version":\#(version)}"#)
            } else {
                print("catalog \(location): schema version \(version) (up to date)")
            }
        } catch {
            FileHandle.standardError.write(Data("error: catalog: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `afs-server serve` (the default): the service over HTTP and gRPC.
struct AFSServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an AetherFS store over HTTP and gRPC (the default command).",
        discussion: """
            Settings come from flags, then environment (AFS_DATA, AFS_HTTP, AFS_GRPC), then the TOML file given by
            --config ([server] data = "DIR", http = "HOST:PORT", grpc = "HOST:PORT"; [limits] max_file_bytes = N,
            requests_per_second = R, burst = B), then defaults (./aether-data, 127.0.0.1:8787, 127.0.0.1:8788,
            2000 requests/s per token with a burst of 4000; AFS_RATE_LIMIT=0 disables the limit). A client address
            that presents more than 30 bearer tokens that do not authenticate (refilled at 30 a minute; [limits]
            auth_failures = N, AFS_AUTH_FAILURES, 0 disables) gets 429 with Retry-After until it may try again. A
            connection idle for 60 s while its request is read, or between requests, is closed ([limits]
            idle_timeout = SECONDS, AFS_IDLE_TIMEOUT, 0: never); responses being written are never idle.
            With --objects s3://BUCKET[/PREFIX]?endpoint=URL&region=R (AFS_OBJECTS, [storage] objects) records live in
            pack objects in that bucket instead of the data directory; credentials come from AWS_ACCESS_KEY_ID and
            AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN for temporary ones) or [storage] access_key / secret_key, and are
            never logged; a local read cache lives in DATA/chunk-cache ([storage] cache_dir, cache_bytes).
            With --catalog postgres://USER@HOST:PORT/DATABASE (AFS_CATALOG, [storage] catalog; password from the URL or
            PGPASSWORD) sessions, commits, refs, coordination state, session journals, tokens and tenants live in that
            PostgreSQL database, migrated on start; one server holds a catalog at a time. With both, the data directory
            holds only caches and the admin token file: another machine can take over. On first start an
            admin token is written to DATA/admin.token (mode 0600). gRPC takes the same tokens as metadata
            (authorization: Bearer TOKEN).
            With --tls-cert FILE --tls-key FILE (AFS_TLS_CERT / AFS_TLS_KEY, [server] tls_cert / tls_key; PEM files,
            the certificate followed by its intermediates) both ports speak TLS 1.2 or later only: HTTPS, and gRPC
            over TLS with HTTP/2 offered by ALPN; answers over TLS carry Strict-Transport-Security. SIGHUP reads
            both files again: new connections get the new certificate, open ones keep theirs, and a broken pair is
            refused with the old one kept. Without them both ports are plaintext, which is meant for loopback; a
            plaintext listener on another address prints a warning. Behind a TLS-terminating proxy, pass
            --trust-forwarded (AFS_TRUST_FORWARDED=1, [server] trust_forwarded = true) so X-Forwarded-Proto: https
            counts as TLS; only do so when the proxy is the only way in. Replicas over TLS relay to each other over
            TLS (HTTPS and gRPC) and verify each other's certificates against the system's trust store, or against
            the CA certificates in --relay-ca FILE (AFS_RELAY_CA, [server] relay_ca); each certificate must name the
            host of its replica's --advertise address.
            With --workspaces URL (AFS_WORKSPACES_ENDPOINT, [workspaces] endpoint) it manages afs-vmd's workspaces of
            each tenant's sessions under /v1/workspaces and in the console, with afs-vmd's token from
            AFS_WORKSPACES_TOKEN or [workspaces] token / token_file (and AFS_WORKSPACES_CA_CERT or [workspaces] ca_cert
            for an https:// afs-vmd with a private CA).
            SIGTERM and SIGINT stop it gracefully: in-flight requests finish, then the store is closed.
            """)

    @Option(help: ArgumentHelp("Data directory (store, tokens, admin.token).", valueName: "DIR")) var data: String?
    @Option(help: ArgumentHelp("HTTP listen address; port 0 picks a free port.", valueName: "HOST:PORT")) var http: String?
    @Option(help: ArgumentHelp("gRPC listen address (IPv4, [IPv6] or localhost); port 0 picks a free port.", valueName: "HOST:PORT")) var grpc: String?
    @Option(help: ArgumentHelp("TOML config file.", valueName: "FILE")) var config: String?
    @Option(help: ArgumentHelp("Keep records in S3: s3://BUCKET[/PREFIX]?endpoint=URL&region=R.", valueName: "URL")) var objects: String?
    @Option(help: ArgumentHelp("Keep the catalog in PostgreSQL: postgres://USER@HOST:PORT/DATABASE.", valueName: "URL")) var catalog: String?
    @Option(
        name: .customLong("catalog-wait"),
        help: ArgumentHelp("Keep retrying an unreachable catalog this long at start before failing (default 30).", valueName: "SECONDS"))
    var catalogWait: Double?
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Serve TLS with this PEM certificate chain (needs --tls-key).", valueName: "FILE"))
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The certificate's PEM private key.", valueName: "FILE")) var tlsKey: String?
    @Option(
        name: .customLong("workspaces"),
        help: ArgumentHelp("afs-vmd to manage workspaces through (/v1/workspaces, the console); token from AFS_WORKSPACES_TOKEN.", valueName: "URL"))
    var workspaces: String?
    @Flag(name: .customLong("trust-forwarded"), help: "Treat X-Forwarded-Proto: https from the peer as TLS (behind a TLS-terminating proxy only).")
    var trustForwarded = false
    @Option(
        name: .customLong("relay-ca"),
        help: ArgumentHelp("With --catalog and TLS: the PEM CA certificates that other replicas' certificates must chain to (default: the system's).", valueName: "FILE"))
    var relayCA: String?
    @Option(
        help: ArgumentHelp(
            "With --catalog: where the other replicas reach this one (default http(s)://HOST:PORT of --http; the host name when listening on all addresses).",
            valueName: "URL"))
    var advertise: String?

    /// The catalog's connection options: how long to wait for an unreachable database at start
    /// comes from --catalog-wait, AFS_CATALOG_WAIT or `[storage] catalog_wait` (seconds, default 30).
    static func catalogOptions(_ flag: Double?, env: [String: String], file: ConfigFile?) throws(AFSError) -> PostgresBackend.Options {
        var options = PostgresBackend.Options()
        let setting = flag.map { String($0) } ?? env["AFS_CATALOG_WAIT"] ?? file?["storage.catalog_wait"] ?? "30"
        guard let seconds = Double(setting), seconds >= 0, seconds <= 86_400 else {
            throw AFSError(.invalidArgument, "--catalog-wait (AFS_CATALOG_WAIT, [storage] catalog_wait) must be a number of seconds from 0 to 86400, not \(setting)")
        }
        options.startupWait = .milliseconds(Int64(seconds * 1000))
        return options
    }

    /// Tells the operator what the server is waiting for while the catalog cannot be reached.
    static func reportCatalogRetry(attempt: Int, failure: AFSError) {
        FileHandle.standardError.write(Data("afs-server: waiting for the catalog (attempt \(attempt)): \(failure.message)\n".utf8))
    }

    /// Splits HOST:PORT (the host may be a bracketed IPv6 address).
    static func hostAndPort(_ listen: String) -> (host: String, port: Int)? {
        HostPort(listen).map { ($0.host, $0.port) }
    }

    /// S3 packs for `--objects`: the location, credentials (environment first, then the file),
    /// and the local read cache; the bucket is checked before the server starts.
    static func openObjects(
        _ url: String, env: [String: String], file: ConfigFile?, dataDirectory: String, catalog: PostgresBackend?
    ) throws(AFSError) -> PackChunkStore {
        let location = try S3Location(url: url)
        guard let key = env["AWS_ACCESS_KEY_ID"] ?? file?["storage.access_key"], let secret = env["AWS_SECRET_ACCESS_KEY"] ?? file?["storage.secret_key"] else {
            throw AFSError(.invalidArgument, "\(location.bucket): no credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or [storage] access_key and secret_key)")
        }
        let credentials = SigV4Signer.Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: env["AWS_SESSION_TOKEN"] ?? file?["storage.session_token"])
        var options = PackChunkStore.Options()
        options.cacheDirectory = file?["storage.cache_dir"] ?? dataDirectory + "/chunk-cache"
        if let raw = file?["storage.cache_bytes"] {
            guard let v = Int64(raw), v >= 0 else { throw AFSError(.invalidArgument, "[storage] cache_bytes must be a byte count >= 0") }
            options.cacheBytes = v
        }
        // The store's identity, made at its first start: the prefix is bound to it (PackChunkStore.open).
        // A clustered catalog keeps it, so any machine on that catalog may use the prefix.
        if let catalog {
            return try PackChunkStore.open(
                client: S3Client(location: location, credentials: credentials), owner: try catalog.storeIdentity(), options: options)
        }
        let idPath = dataDirectory + "/objects.owner"
        var owner = (try? String(contentsOfFile: idPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if owner.isEmpty {
            owner = RandomID.storeIdentity()
            do {
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
                try Data((owner + "\n").utf8).write(to: URL(fileURLWithPath: idPath), options: .atomic)
            } catch {
                throw AFSError(.io, "cannot record the store's identity in \(idPath): \(error.localizedDescription)")
            }
        }
        return try PackChunkStore.open(client: S3Client(location: location, credentials: credentials), owner: owner, options: options)
    }

    func run() async throws {
        // Buffers of a megabyte and more (packs being filled and uploaded, read windows) are
        // mapped and returned to the system when freed. glibc's default raises its threshold each
        // time such a buffer is freed, after which they come from the heap and the server keeps
        // their peak size for good (measured: +66 MB resident after one 64 MiB upload to S3, +4 MB
        // with this).
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
        let env = ProcessInfo.processInfo.environment
        var file: ConfigFile?
        if let path = config ?? env["AFS_CONFIG"] {
            do { file = try ConfigFile(path: path) } catch { throw ValidationError("\(error)") }
        }
        let dataDir = data ?? env["AFS_DATA"] ?? file?["server.data"] ?? "./aether-data"
        let listen = http ?? env["AFS_HTTP"] ?? file?["server.http"] ?? "127.0.0.1:8787"
        guard let (httpHost, httpPort) = AFSServerCommand.hostAndPort(listen) else {
            throw ValidationError("--http must be HOST:PORT, e.g. 127.0.0.1:8787")
        }
        let grpcListen = grpc ?? env["AFS_GRPC"] ?? file?["server.grpc"] ?? "127.0.0.1:8788"
        guard let (grpcHost, grpcPort) = AFSServerCommand.hostAndPort(grpcListen) else {
            throw ValidationError("--grpc must be HOST:PORT, e.g. 127.0.0.1:8788")
        }
        var configuration = AetherServer.Configuration(dataDirectory: (dataDir as NSString).standardizingPath)
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.grpcHost = grpcHost
        configuration.grpcPort = grpcPort
        if let raw = env["AFS_RATE_LIMIT"] ?? file?["limits.requests_per_second"] {
            guard let v = Double(raw), v >= 0 else { throw ValidationError("limits.requests_per_second (AFS_RATE_LIMIT) must be a number >= 0; 0 disables") }
            configuration.rateLimit = v
            configuration.rateBurst = max(1, 2 * v)
        }
        if let raw = env["AFS_RATE_BURST"] ?? file?["limits.burst"] {
            guard let v = Double(raw), v >= 1 else { throw ValidationError("limits.burst (AFS_RATE_BURST) must be a number >= 1") }
            configuration.rateBurst = v
        }
        if let raw = env["AFS_AUTH_FAILURES"] ?? file?["limits.auth_failures"] {
            guard let v = Int(raw), v >= 0 else {
                throw ValidationError("limits.auth_failures (AFS_AUTH_FAILURES) must be a whole number >= 0 (failed tokens per address per minute; 0 disables)")
            }
            configuration.authFailureBurst = v
        }
        if let raw = env["AFS_IDLE_TIMEOUT"] ?? file?["limits.idle_timeout"] {
            guard let v = Double(raw), v >= 0, v <= 86_400 else {
                throw ValidationError("limits.idle_timeout (AFS_IDLE_TIMEOUT) must be seconds from 0 to 86400 (0: never)")
            }
            configuration.idleTimeout = .milliseconds(Int64(v * 1000))
        }
        if let raw = file?["limits.max_file_bytes"] {
            guard let v = UInt64(raw) else { throw ValidationError("limits.max_file_bytes must be an integer") }
            configuration.maxFileBytes = v
        }
        do throws(TLSError) {
            configuration.tls = try ReloadableCertificate.configured(
                certificatePath: tlsCert ?? env["AFS_TLS_CERT"] ?? file?["server.tls_cert"], keyPath: tlsKey ?? env["AFS_TLS_KEY"] ?? file?["server.tls_key"],
                certificateSetting: "--tls-cert (AFS_TLS_CERT, [server] tls_cert)", keySetting: "--tls-key (AFS_TLS_KEY, [server] tls_key)")
        } catch {
            FileHandle.standardError.write(Data("error: tls: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        configuration.relayTrust = TLSTrust(caCertificatePath: relayCA ?? env["AFS_RELAY_CA"] ?? file?["server.relay_ca"])
        if let path = configuration.relayTrust.caCertificatePath {
            do throws(TLSError) { _ = try configuration.relayTrust.clientConfiguration() } catch {
                FileHandle.standardError.write(Data("error: --relay-ca (AFS_RELAY_CA, [server] relay_ca) \(path): \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
        configuration.trustForwardedHeaders = trustForwarded || ["1", "true", "yes"].contains((env["AFS_TRUST_FORWARDED"] ?? file?["server.trust_forwarded"] ?? "").lowercased())
        if configuration.tls == nil {
            for (listener, h, p) in [("HTTP", httpHost, httpPort), ("gRPC", grpcHost, grpcPort)] {
                if let warning = PlaintextWarning.message(service: "afs-server", listener: listener, host: h, port: p) {
                    FileHandle.standardError.write(Data((warning + "\n").utf8))
                }
            }
        }
        if let url = (workspaces ?? env["AFS_WORKSPACES_ENDPOINT"] ?? file?["workspaces.endpoint"]).flatMap({ $0.isEmpty ? nil : $0 }) {
            var token = env["AFS_WORKSPACES_TOKEN"] ?? file?["workspaces.token"]
            if token == nil, let path = file?["workspaces.token_file"] {
                token = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let ca = env["AFS_WORKSPACES_CA_CERT"] ?? file?["workspaces.ca_cert"]
            do {
                configuration.workspaces = try WorkspacesClient(endpoint: url, token: token, trust: TLSTrust(caCertificatePath: ca))
            } catch {
                FileHandle.standardError.write(Data("error: workspaces: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
        var backend: PostgresBackend?
        if let url = catalog ?? env["AFS_CATALOG"] ?? file?["storage.catalog"] {
            do throws(AFSError) {
                // Every server on a catalog is a replica: it joins the fleet (its own advisory
                // lock, released by the database however the process ends) and serves any session,
                // relaying requests for sessions another live replica holds.
                let b = try PostgresBackend.connect(
                    try PostgresLocation(parsing: url, environment: env),
                    options: try AFSServerCommand.catalogOptions(catalogWait, env: env, file: file),
                    onRetry: AFSServerCommand.reportCatalogRetry)
                backend = b
                let replica = try b.join(address: "")
                configuration.catalog = PostgresCatalog(backend: b)
                configuration.journals = PostgresJournalStore(backend: b)
                configuration.access = PostgresAccessCatalog(backend: b)
                configuration.ownership = PostgresSessionOwnership(backend: b)
                configuration.replicaName = replica.id
                // Leases are granted and expire by the database's clock, which every replica shares.
                configuration.storeOptions.wallClock = { b.databaseTime() }
            } catch {
                backend?.close()
                FileHandle.standardError.write(Data("error: catalog: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
        defer { backend?.close() }
        if let url = objects ?? env["AFS_OBJECTS"] ?? file?["storage.objects"] {
            do throws(AFSError) {
                configuration.chunks = try AFSServerCommand.openObjects(
                    url, env: env, file: file, dataDirectory: configuration.dataDirectory, catalog: backend)
            } catch {
                FileHandle.standardError.write(Data("error: object storage: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
        }
        let server: AetherServer
        do { server = try AetherServer(configuration: configuration) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let host = configuration.httpHost
        let scheme = configuration.tls == nil ? "http" : "https"
        let replicaBackend = backend
        if let backend { backend.onChange { _ in server.store.changesRecordedElsewhere() } }
        let advertised = advertise ?? env["AFS_ADVERTISE"] ?? file?["server.advertise"]
        let tlsLine = configuration.tls.map { tls in
            let s = tls.summary
            return "tls: \(s.subject), issued by \(s.issuer), expires \(ISO8601DateFormatter().string(from: s.notValidAfter)) · SIGHUP reloads it\n"
        } ?? ""
        let storeDescription = [
            backend.map { "catalog \($0.location)" }, configuration.chunks == nil ? nil : "objects \(objects ?? env["AFS_OBJECTS"] ?? file?["storage.objects"] ?? "")",
        ].compactMap { $0 }.joined(separator: ", ").nonEmpty ?? configuration.dataDirectory + "/store"
        // Each banner is one write, so the two lines never interleave whichever listener binds first.
        try await server.run(
            onHTTPListening: { boundPort in
                if let backend = replicaBackend {
                    let reachable = ["0.0.0.0", "::", "[::]"].contains(host) ? ProcessInfo.processInfo.hostName : host
                    let address = advertised ?? "\(scheme)://\(reachable.contains(":") && !reachable.hasPrefix("[") ? "[\(reachable)]" : reachable):\(boundPort)"
                    do throws(AFSError) {
                        try backend.advertise(address)
                        FileHandle.standardOutput.write(Data("replica \(backend.replica?.id ?? "?") of \(backend.location), reached at \(address)\n".utf8))
                    } catch {
                        FileHandle.standardError.write(Data("error: catalog: cannot advertise this replica: \(error.message)\n".utf8))
                    }
                }
                let banner = """
                    afs-server listening on \(scheme)://\(host):\(boundPort)
                    console: \(scheme)://\(host):\(boundPort)/ (sign in with a token, e.g. the admin token)
                    store: \(storeDescription) · admin token: \(server.adminTokenPath) (mode 0600)
                    \(tlsLine)try: curl -H "Authorization: Bearer $(cat \(server.adminTokenPath))" \(scheme)://\(host):\(boundPort)/v1/sessions

                    """
                FileHandle.standardOutput.write(Data(banner.utf8))
            },
            onGRPCListening: { grpcHost, boundPort in
                if let backend = replicaBackend {
                    let reachable = ["0.0.0.0", "::", "[::]"].contains(grpcHost) ? ProcessInfo.processInfo.hostName : grpcHost
                    try? backend.advertise(grpc: HostPort(host: reachable, port: boundPort).description)
                }
                FileHandle.standardOutput.write(Data("afs-server gRPC listening on \(grpcHost):\(boundPort)\n".utf8))
            })
        try server.shutdown()
        print("afs-server stopped; store closed")
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

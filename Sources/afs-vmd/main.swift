import AFSSupport
import AFSTLS
import AFSWorkspaceService
import AFSWorkspaces
import ArgumentParser
import Foundation

/// `afs-vmd`: the workspace VM controller's daemon.
@main
struct AFSVMDCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "afs-vmd",
        abstract: "Run workspace VMs (QEMU microVMs or bubblewrap sandboxes) behind an HTTP API.",
        discussion: """
            State lives in DATA/workspaces.sqlite; each workspace's volume and run files in DATA/workspaces/ID.
            Clients send the bearer token written to DATA/vmd.token (mode 0600) on first start.
            --driver auto uses QEMU when qemu-system-x86_64 and a guest image (DATA/guest or --guest-dir, built by
            scripts/build-guest-image.sh) are present, and bubblewrap otherwise. KVM is used only when a canary VM
            boots under it (the answer is cached in DATA/accelerator.json); otherwise QEMU emulates (TCG).
            New workspaces run on the Debian base image GUEST/bases/current (scripts/build-workspace-base.sh GUEST), shared
            read-only by all of them: each stores only its changes, on its volume, and keeps its base version until
            `aether workspace update ID --image current`. They get a user with passwordless sudo (--user, default aether).
            VMs run detached: SIGTERM stops the daemon, not the VMs; the next start adopts them.
            With --aether-endpoint, --project names an AetherFS session: each workspace gets its own fork of it, mounted
            on the host (aether mount, sharing the machine's content cache) and shared into the VM at /workspace
            (virtiofs for QEMU, a bind mount for bubblewrap); the fork is deleted with the workspace.
            With --tls-cert FILE --tls-key FILE (AFS_VMD_TLS_CERT, AFS_VMD_TLS_KEY) the API is served over HTTPS, TLS 1.2
            or later only, with the pair read again on SIGHUP; a plaintext listener off loopback prints a warning.
            The VMs' consoles and SSH are not affected. --aether-ca-cert (AETHER_CA_CERT) names the CA of an https://
            --aether-endpoint.
            Environment: AFS_VMD_DATA, AFS_VMD_LISTEN, AFS_VMD_DRIVER, AFS_VMD_TLS_CERT, AFS_VMD_TLS_KEY,
            AFS_AETHER_SERVER_ENDPOINT, AFS_TOKEN, AETHER_CA_CERT.
            """)

    @Option(help: ArgumentHelp("Data directory.", valueName: "DIR")) var data: String?
    @Option(help: ArgumentHelp("HTTP listen address; port 0 picks a free port.", valueName: "HOST:PORT")) var listen: String?
    @Option(help: ArgumentHelp("qemu, bwrap or auto.", valueName: "DRIVER")) var driver: String?
    @Option(name: .customLong("guest-dir"), help: ArgumentHelp("Kernel, initramfs and bases/ (Debian base images) directory (default DATA/guest).", valueName: "DIR"))
    var guestDirectory: String?
    @Option(help: ArgumentHelp("QEMU accelerator: auto (canary boot), kvm or tcg.", valueName: "ACCEL")) var accel = "auto"
    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Default idle timeout of new workspaces in seconds (0 disables).", valueName: "SECONDS"))
    var idleTimeout = 600
    @Option(name: .customLong("activity-interval"), help: ArgumentHelp("How often running workspaces are asked for SSH sessions and tasks, in seconds.", valueName: "SECONDS"))
    var activityInterval: Double = 10
    @Option(name: .customLong("aether-endpoint"), help: ArgumentHelp("afs-server whose sessions hold project files: each workspace forks --project and sees it at /workspace (default: $AFS_AETHER_SERVER_ENDPOINT).", valueName: "URL"))
    var aetherEndpoint: String?
    @Option(name: .customLong("aether-token"), help: ArgumentHelp("Token for --aether-endpoint (default: $AFS_TOKEN).", valueName: "TOKEN"))
    var aetherToken: String?
    @Option(name: .customLong("aether-ca-cert"), help: ArgumentHelp("CA of an https:// --aether-endpoint (default: $AETHER_CA_CERT, else the system's CAs).", valueName: "FILE"))
    var aetherCACert: String?
    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Serve HTTPS with this PEM certificate chain (needs --tls-key).", valueName: "FILE"))
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The certificate's PEM private key.", valueName: "FILE")) var tlsKey: String?
    @Option(name: .customLong("aether"), help: ArgumentHelp("The aether CLI that forks and mounts project sessions (default: next to afs-vmd, then PATH).", valueName: "PATH"))
    var aetherPath: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let dataDir = ((data ?? env["AFS_VMD_DATA"] ?? "./vmd-data") as NSString).standardizingPath
        let listenAddress = listen ?? env["AFS_VMD_LISTEN"] ?? "127.0.0.1:8790"
        guard let address = HostPort(listenAddress) else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8790 or [::1]:8790")
        }
        var configuration = WorkspaceDaemon.Configuration(dataDirectory: dataDir.hasPrefix("/") ? dataDir : FileManager.default.currentDirectoryPath + "/" + dataDir)
        configuration.host = address.host
        configuration.port = address.port
        configuration.driver = driver ?? env["AFS_VMD_DRIVER"] ?? "auto"
        configuration.guestDirectory = guestDirectory
        configuration.accelerator = accel
        configuration.defaultIdleTimeout = idleTimeout
        guard activityInterval > 0 else { throw ValidationError("--activity-interval must be > 0") }
        configuration.activityInterval = activityInterval
        if let endpoint = aetherEndpoint ?? env["AFS_AETHER_SERVER_ENDPOINT"], !endpoint.isEmpty {
            let sibling = (URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path) + "/aether"
            let cli = aetherPath ?? (FileManager.default.isExecutableFile(atPath: sibling) ? sibling : "aether")
            var files = AetherProjectFiles(aether: cli, endpoint: endpoint, token: aetherToken ?? env["AFS_TOKEN"])
            files.caCertificate = aetherCACert ?? env["AETHER_CA_CERT"]
            configuration.projectFiles = files
        }
        do throws(TLSError) {
            configuration.tls = try ReloadableCertificate.configured(
                certificatePath: tlsCert ?? env["AFS_VMD_TLS_CERT"], keyPath: tlsKey ?? env["AFS_VMD_TLS_KEY"],
                certificateSetting: "--tls-cert (AFS_VMD_TLS_CERT)", keySetting: "--tls-key (AFS_VMD_TLS_KEY)")
        } catch {
            FileHandle.standardError.write(Data("error: tls: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        if configuration.tls == nil, let warning = PlaintextWarning.message(service: "afs-vmd", listener: "HTTP", host: configuration.host, port: address.port) {
            FileHandle.standardError.write(Data((warning + "\n").utf8))
        }
        FileHandle.standardError.write(Data("afs-vmd: preparing the \(configuration.driver) driver in \(configuration.dataDirectory)…\n".utf8))
        let daemon: WorkspaceDaemon
        do { daemon = try await WorkspaceDaemon(configuration: configuration) } catch {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let health = daemon.health()
        let host = configuration.host
        let scheme = configuration.tls == nil ? "http" : "https"
        let dataDirectory = configuration.dataDirectory
        try await daemon.run(onListening: { bound in
            let banner = """
                afs-vmd listening on \(scheme)://\(host):\(bound)
                driver: \(health["driver"] ?? "?")\(health["accelerator"].map { " (\($0))" } ?? "") · data: \(dataDirectory) · token: \(daemon.tokenPath)

                """
            FileHandle.standardOutput.write(Data(banner.utf8))
        })
    }
}

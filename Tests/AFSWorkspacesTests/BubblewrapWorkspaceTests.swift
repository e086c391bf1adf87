import AFSCore
import AFSTLS
import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// afs-vmd with the bubblewrap driver, driven by `aether workspace`, end to end.
/// Why the bubblewrap driver cannot run here, or nil when it can.
let bubblewrapUnavailable: String? = {
    if getuid() != 0 { return "the bwrap driver needs root (it mounts the overlay root)" }
    for dir in ["/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/bwrap") { return nil }
    return "bubblewrap is not installed (scripts/bootstrap.sh installs it)"
}()

@Suite(.serialized, .offCooperativePool, .enabled(if: bubblewrapUnavailable == nil, Comment(rawValue: bubblewrapUnavailable ?? "")))
struct BubblewrapWorkspaceTests {
    @Test func lifecycleOverTheRealDaemon() throws {
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap"])
        defer { vmd.cleanup() }
        try lifecycleScenario(WorkspaceCLI(vmd: vmd), startTimeout: 30)
    }

    /// The sandbox's root is the same Debian base the VMs boot.
    @Test func debianBaseUnderBubblewrap() throws {
        let guest = try GuestImages.guestDirectory()
        let base = try GuestImages.currentBase()
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap", "--guest-dir", guest])
        defer { vmd.cleanup() }
        try fullLinuxScenario(
            WorkspaceCLI(vmd: vmd), guest: guest, base: base, baseBytes: try FullLinux.allocatedBytes(guest + "/bases/\(base)/rootfs"), startTimeout: 30)
    }

    /// Building a newer base moves `current` for new workspaces only: existing ones keep booting
    /// on their version until `update --image current` rebases them, changes kept.
    @Test func workspacesKeepTheirBaseUntilRebased() throws {
        let shared = try GuestImages.guestDirectory()
        let real = try GuestImages.currentBase()
        // A guest directory of its own with two versions (hard links to the real tree, the second
        // with its own name), so moving `current` here disturbs no other test.
        let guest = "/var/tmp/afs-bases-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: guest) }
        let (old, new) = ("debian-12-old\(UUID().uuidString.prefix(4).lowercased())", "debian-12-new\(UUID().uuidString.prefix(4).lowercased())")
        for version in [old, new] {
            let r = try ChildProcess.run("/bin/sh", ["-c", """
                set -e; mkdir -p \(guest)/bases/\(version); cd \(guest)/bases/\(version)
                cp -al \(shared)/bases/\(real)/rootfs rootfs; ln \(shared)/bases/\(real)/root.img root.img; cp \(shared)/bases/\(real)/manifest.json .
                rm rootfs/usr/share/aether/base; echo \(version) > rootfs/usr/share/aether/base
                """], mergeStderr: true)
            #expect(r.status == 0, "\(String(decoding: r.stdout, as: UTF8.self))")
        }
        try FileManager.default.createSymbolicLink(atPath: guest + "/bases/current", withDestinationPath: old)
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap", "--guest-dir", guest])
        defer { vmd.cleanup() }
        let cli = WorkspaceCLI(vmd: vmd)
        let ws = try cli.workspace(["create", "--project", "p", "--user", "dev", "--start"])
        #expect(ws.image == old && ws.user == "dev")
        let (_, first) = try cli.ssh(ws.id, "id -un; cat /usr/share/aether/base; echo mine > ~/kept.txt")
        #expect(first.contains("dev\n\(old)"), "\(first)")
        _ = try cli.workspace(["stop", ws.id])

        // A newer base is built: new workspaces get it, the existing one keeps its own.
        try FileManager.default.removeItem(atPath: guest + "/bases/current")
        try FileManager.default.createSymbolicLink(atPath: guest + "/bases/current", withDestinationPath: new)
        _ = try cli.workspace(["start", ws.id])
        #expect(try cli.ssh(ws.id, "cat /usr/share/aether/base").1.contains(old), "an existing workspace keeps booting on its version")
        let fresh = try cli.workspace(["create", "--project", "p"])
        #expect(fresh.image == new)
        _ = try cli.workspace(["stop", ws.id])
        #expect(try cli.workspace(["update", ws.id, "--image", "current"]).image == new)
        _ = try cli.workspace(["start", ws.id])
        let (_, after) = try cli.ssh(ws.id, "cat /usr/share/aether/base ~/kept.txt")
        #expect(after.contains(new) && after.contains("mine"), "rebased, changes kept: \(after)")
        let bad = try cli.run(["create", "--project", "p", "--user", "Bad User"])
        #expect(bad.status == 5 && String(decoding: bad.stderr, as: UTF8.self).contains("user must be"), "\(bad)")
        try cli.ok(["delete", ws.id, "--yes"])
        try cli.ok(["delete", fresh.id, "--yes"])
    }

    @Test(.enabled(if: MountAvailability.problem == nil, Comment(rawValue: MountAvailability.problem ?? "")))
    func projectFilesAreAForkOfTheProjectSession() throws {
        // Over TLS at both ends: aether reaches afs-vmd over HTTPS, and afs-vmd's mounts reach
        // afs-server over HTTPS; SSH into the workspace is unchanged.
        let project = try ProjectServer(tls: true)
        defer { project.server.cleanup() }
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap"] + project.vmdArguments, tls: true)
        #expect(vmd.base.hasPrefix("https://"))
        defer { vmd.cleanup() }
        try projectFilesScenario(WorkspaceCLI(vmd: vmd), project, startTimeout: 30)
    }

    @Test func idleStopWaitsForTasksThenStops() throws {
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap", "--activity-interval", "0.5"])
        defer { vmd.cleanup() }
        let cli = WorkspaceCLI(vmd: vmd)
        let ws = try cli.workspace(["create", "--project", "idle", "--idle-timeout", "3", "--start"])
        #expect(ws.status == .running)
        // A task running inside keeps it up past the idle timeout.
        let task = Thread { _ = try? cli.ssh(ws.id, "sleep 6") }
        task.start()
        Thread.sleep(forTimeInterval: 5)
        #expect(try cli.workspace(["get", ws.id]).status == .running, "a running task counts as activity")
        while !task.isFinished { Thread.sleep(forTimeInterval: 0.1) }
        // Then nothing: stopped by itself, reason idle. (`get` would touch the timer: use wait.)
        let stopped = try cli.workspace(["wait", ws.id, "--state", "stopped", "--timeout", "20"])
        #expect(stopped.status == .stopped)
        #expect(try cli.events(ws.id).suffix(2).map(\.reason) == ["idle", "idle"])
        try cli.ok(["delete", ws.id, "--yes"])
    }

    /// afs-vmd over TLS: `aether workspace` verifies it (exit 14 with another CA), and SIGHUP
    /// rotates its certificate for new connections.
    @Test func theDaemonServesTLSAndRotatesOnSIGHUP() throws {
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap"], tls: true)
        defer { vmd.cleanup() }
        #expect(vmd.base.hasPrefix("https://"))
        let cli = WorkspaceCLI(vmd: vmd)
        try cli.ok(["list"])
        let other = try TestPKI(directory: vmd.data + "/other-ca", name: "Some other CA")
        let refused = try cli.run(["list", "--ca-cert", other.caPath])
        #expect(refused.status == 14)
        #expect(String(decoding: refused.stderr, as: UTF8.self).contains("not signed by the CA in \(other.caPath)"))
        // Rotate: the files the daemon was started with are replaced, then SIGHUP.
        let certificate = try #require(vmd.arguments.firstIndex(of: "--tls-cert").map { vmd.arguments[$0 + 1] })
        let key = try #require(vmd.arguments.firstIndex(of: "--tls-key").map { vmd.arguments[$0 + 1] })
        let renewed = try TestPKI.shared.issue("vmd-renewed-\(UUID().uuidString.prefix(8))", hosts: ["127.0.0.1", "vmd.internal"])
        for (from, to) in [(renewed.certificatePath, certificate), (renewed.keyPath, key)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        kill(vmd.pid, SIGHUP)
        let port = try #require(Int(vmd.base.split(separator: ":").last ?? ""))
        let deadline = Date().addingTimeInterval(10)
        var names = ""
        while Date() < deadline {
            names = (try? Blocking.run { try await TLSProbe.serverCertificate(host: "127.0.0.1", port: port) })?.names ?? ""
            if names.contains("vmd.internal") { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(names.contains("vmd.internal"), "the daemon still presents its first certificate: \(names)")
        try cli.ok(["list"])
    }

    @Test func errorsAreClearAndExitCodesDistinct() throws {
        let vmd = try VMDProcess(arguments: ["--driver", "bwrap"])
        defer { vmd.cleanup() }
        let cli = WorkspaceCLI(vmd: vmd)
        let badCPU = try cli.run(["create", "--project", "p", "--cpus", "9"])
        #expect(badCPU.status == 5 && String(decoding: badCPU.stderr, as: UTF8.self).contains("between 1 and 8"))
        let gpu = try cli.run(["create", "--project", "p", "--gpu-kind", "a100"])
        #expect(gpu.status == 12 && String(decoding: gpu.stderr, as: UTF8.self).contains("gpu_kind"), "\(gpu)")
        #expect(try cli.run(["get", "ws-nope00"]).status == 3)
        #expect(try cli.run(["get", "../../etc"]).status == 5, "hostile ids are refused before any request")

        let ws = try cli.workspace(["create", "--project", "p", "--idle-timeout", "0", "--start"])
        let update = try cli.run(["update", ws.id, "--cpus", "4"])
        #expect(update.status == 4 && String(decoding: update.stderr, as: UTF8.self).contains("only while stopped"))
        let wait = try cli.run(["wait", ws.id, "--state", "error", "--timeout", "1"])
        #expect(wait.status == 13, "a wait that times out exits 13: \(wait)")
        let stopAndResize = try cli.workspace(["stop", ws.id])
        #expect(stopAndResize.status == .stopped)
        #expect(try cli.workspace(["update", ws.id, "--cpus", "4", "--memory", "1024"]).hardware.summary == "4cpu/1024mb")

        // The HTTP API itself: no token, wrong token, malformed and oversized bodies.
        let url = vmd.base + "/v1/workspaces"
        #expect(try HTTPTestClient.request("GET", url).status == 401)
        #expect(try HTTPTestClient.request("GET", url, headers: [("Authorization", "Bearer nope")]).status == 401)
        #expect(try HTTPTestClient.request("GET", vmd.base + "/v1/health").status == 200, "health is open")
        let auth = [("Authorization", "Bearer \(vmd.token)"), ("Content-Type", "application/json")]
        let malformed = try HTTPTestClient.request("POST", url, headers: auth, body: .data(Data("{not json".utf8)))
        #expect(malformed.status == 400 && String(decoding: malformed.body, as: UTF8.self).contains("invalid_argument"))
        let shape = try HTTPTestClient.request("POST", url, headers: auth, body: .data(Data(#"{"project": 5}"#.utf8)))
        #expect(shape.status == 400)
        let huge = try HTTPTestClient.request("POST", url, headers: auth, body: .data(Data(repeating: 0x20, count: 3 << 20)))
        #expect(huge.status == 413)
        let badState = try HTTPTestClient.request("GET", url + "?status=sideways", headers: auth)
        #expect(badState.status == 400)
        let noToken = try ChildProcess.run(cli.aether, ["workspace", "list"], environment: vmd.environment.merging(["AFS_WORKSPACES_TOKEN": "wrong"]) { $1 })
        #expect(noToken.status == 11 && String(decoding: noToken.stderr, as: UTF8.self).contains("token"))
        let down = try ChildProcess.run(cli.aether, ["workspace", "list"], environment: vmd.environment.merging(["AFS_WORKSPACES_ENDPOINT": "http://127.0.0.1:1"]) { $1 })
        #expect(down.status == 12 && String(decoding: down.stderr, as: UTF8.self).contains("is it running"))
        try cli.ok(["delete", ws.id, "--yes"])
    }
}

import Foundation
import AFSTestSupport
import Testing

@testable import AFSWorkspaces

/// The state machine with a fake driver and a manual clock: transitions, deadlines, idle stops,
/// adoption after a controller restart, idempotence, persistence.
@Suite(.offCooperativePool) struct WorkspaceControllerTests {
    let directory: String
    let clock = ManualClock(wall: 1_800_000_000)
    let driver: FakeDriver

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("afs-ws-\(UUID().uuidString)").path
        driver = FakeDriver(bootTimeout: 60)
    }

    func controller(idle: Int = 600) throws -> WorkspaceController {
        var configuration = WorkspaceController.Configuration(dataDirectory: directory)
        configuration.defaultIdleTimeout = idle
        configuration.activityInterval = 10
        return try WorkspaceController(configuration: configuration, driver: driver, clock: clock)
    }

    func reasons(_ c: WorkspaceController, _ id: String) async throws -> [String] {
        try await c.events(id).map { "\($0.to?.rawValue ?? "-"):\($0.reason)" }
    }

    /// Starts a workspace and brings it to running.
    func running(_ c: WorkspaceController, idle: Int? = nil) async throws -> Workspace {
        let ws = try await c.create(WorkspaceRequest(project: "my-app", idleTimeout: idle))
        let started = try await c.start(ws.id)
        driver.setReady(try #require(started.runtime).pid)
        await c.tick()
        let now = try await c.workspace(ws.id)
        #expect(now.status == .running)
        return now
    }

    @Test func hardwareIsValidatedWithTheValidRange() async throws {
        let c = try controller()
        for (hardware, needle) in [
            (WorkspaceHardware(cpus: 0), "between 1 and 8"), (WorkspaceHardware(cpus: 9), "between 1 and 8"),
            (WorkspaceHardware(memoryMB: 128), "between 256 and 16384"), (WorkspaceHardware(memoryMB: 20000), "between 256 and 16384"),
            (WorkspaceHardware(volumeSizeGB: 0), "between 1 and 1024"),
        ] {
            do {
                _ = try await c.create(WorkspaceRequest(project: "p", hardware: hardware))
                Issue.record("accepted \(hardware)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(needle), "\(error.message)")
            }
        }
        do {
            _ = try await c.create(WorkspaceRequest(project: "p", hardware: WorkspaceHardware(gpuKind: "a100")))
            Issue.record("accepted a GPU this host does not have")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("no GPU"))
        }
        do {
            _ = try await c.create(WorkspaceRequest(project: " "))
            Issue.record("accepted an empty project")
        } catch {
            #expect(error.code == .invalidArgument)
        }
        #expect(try await c.workspaces().isEmpty, "a refused create leaves nothing behind")
        let ok = try await c.create(WorkspaceRequest(project: "p", hardware: WorkspaceHardware(cpuKind: .performance, cpus: 8, memoryMB: 16384, volumeSizeGB: 1)))
        #expect(ok.status == .stopped && ok.desired == .stopped)
        #expect(ok.id.hasPrefix("ws-") && ok.id.count == 9)
        #expect(driver.with { $0.volumes.contains(ok.id) })
    }

    @Test func startRunStopWithEventsAndNoOps() async throws {
        let c = try controller()
        let ws = try await c.create(WorkspaceRequest(project: "my-app"))
        let starting = try await c.start(ws.id)
        #expect(starting.status == .starting && starting.desired == .running)
        #expect(starting.deadline == clock.now().addingTimeInterval(60))
        await c.tick()
        #expect(try await c.workspace(ws.id).status == .starting, "not ready yet")
        driver.setReady(try #require(starting.runtime).pid)
        clock.advance(3)
        await c.tick()
        let running = try await c.workspace(ws.id)
        #expect(running.status == .running && running.deadline == nil)

        // start on running: a no-op success (no new runtime, no new event)
        let again = try await c.start(ws.id)
        #expect(again.status == .running && again.runtime == running.runtime && again.generation == running.generation)
        #expect(driver.with { $0.calls.filter { $0.hasPrefix("start") }.count } == 1)

        let stopped = try await c.stop(ws.id)
        #expect(stopped.status == .stopped && stopped.runtime == nil && stopped.desired == .stopped)
        #expect(!driver.isAlive(try #require(running.runtime).pid))
        let twice = try await c.stop(ws.id)
        #expect(twice.status == .stopped && twice.generation == stopped.generation, "stop on stopped is a no-op")

        #expect(try await reasons(c, ws.id) == ["stopped:created", "starting:user", "running:ready", "stopping:user", "stopped:user"])
        let last = try await c.events(ws.id).last
        #expect(last?.detail == "rung=agent")
    }

    @Test func bootDeadlineEndsInErrorAndStartRecovers() async throws {
        let c = try controller()
        let ws = try await c.create(WorkspaceRequest(project: "p"))
        let started = try await c.start(ws.id)
        clock.advance(59)
        await c.tick()
        #expect(try await c.workspace(ws.id).status == .starting)
        clock.advance(2)
        await c.tick()
        let failed = try await c.workspace(ws.id)
        #expect(failed.status == .error && failed.runtime == nil)
        #expect(failed.error?.contains("did not become ready within 60 s") == true)
        #expect(!driver.isAlive(try #require(started.runtime).pid), "the stuck VM was cleaned up")
        #expect(try await reasons(c, ws.id).last == "error:boot_deadline")

        // error accepts start (after forced cleanup) ...
        let retried = try await c.start(ws.id)
        #expect(retried.status == .starting && retried.error == nil)
        // ... and stop (to stopped, via cleanup)
        _ = try await c.stop(ws.id)
        #expect(try await c.workspace(ws.id).status == .stopped)
    }

    @Test func startFailureIsRecordedAndReported() async throws {
        let c = try controller()
        let ws = try await c.create(WorkspaceRequest(project: "p"))
        driver.with { $0.failNextStart = "qemu: could not open kernel" }
        do {
            _ = try await c.start(ws.id)
            Issue.record("start succeeded")
        } catch {
            #expect(error.code == .driver)
        }
        let after = try await c.workspace(ws.id)
        #expect(after.status == .error && after.error == "qemu: could not open kernel")
        #expect(try await reasons(c, ws.id).suffix(2) == ["starting:user", "error:start_failed"])
    }

    @Test func unexpectedExitWhileRunningIsAnError() async throws {
        let c = try controller()
        let ws = try await running(c)
        let probes = driver.with { $0.calls.filter { $0 == "observe \(ws.id)" }.count }
        await c.tick()
        #expect(driver.with { $0.calls.filter { $0 == "observe \(ws.id)" }.count } == probes, "a running VM is not probed through its guest every pass")
        #expect(try await c.workspace(ws.id).status == .running)
        driver.crash(try #require(ws.runtime).pid)
        await c.tick()
        let after = try await c.workspace(ws.id)
        #expect(after.status == .error)
        #expect(after.error?.contains("exited unexpectedly") == true)
        #expect(try await reasons(c, ws.id).last == "error:exited")
    }

    @Test func idleStopHonoursActivityTouchesAndZero() async throws {
        let c = try controller(idle: 600)
        let ws = try await running(c)
        let pid = try #require(ws.runtime).pid

        clock.advance(300)
        await c.tick()
        #expect(try await c.workspace(ws.id).status == .running)

        // An SSH session keeps it alive past the timeout.
        driver.setActivity(pid, Activity(connections: 1, tasks: 0))
        clock.advance(400)
        await c.tick()
        #expect(try await c.workspace(ws.id).status == .running)
        driver.setActivity(pid, Activity(connections: 0, tasks: 0))

        // An API touch postpones too.
        clock.advance(590)
        try await c.touch(ws.id)
        clock.advance(20)
        await c.tick()
        #expect(try await c.workspace(ws.id).status == .running)

        // 600 s of nothing: stopped, reason idle.
        clock.advance(600)
        await c.tick()
        let stopped = try await c.workspace(ws.id)
        #expect(stopped.status == .stopped)
        #expect(try await reasons(c, ws.id).suffix(2) == ["stopping:idle", "stopped:idle"])

        // idle_timeout 0 disables.
        let forever = try await running(c, idle: 0)
        clock.advance(1_000_000)
        await c.tick()
        #expect(try await c.workspace(forever.id).status == .running)

        // A running task counts like a connection.
        let busy = try await running(c, idle: 60)
        driver.setActivity(try #require(busy.runtime).pid, Activity(connections: 0, tasks: 2))
        clock.advance(61)
        await c.tick()
        #expect(try await c.workspace(busy.id).status == .running)
    }

    @Test func stopLadderExhaustedIsStopFailedThenRecoverable() async throws {
        let c = try controller()
        let ws = try await running(c)
        driver.with { $0.stopFails = true }
        let failed = try await c.stop(ws.id)
        #expect(failed.status == .stopFailed)
        #expect(failed.error?.contains("will not stop") == true)
        #expect(try await reasons(c, ws.id).last == "stop_failed:stop_deadline")
        driver.with { $0.stopFails = false }
        let restarted = try await c.start(ws.id)
        #expect(restarted.status == .starting)
        #expect(driver.with { $0.calls.contains("cleanup \(ws.id)") })
    }

    @Test func restartedControllerAdoptsLiveRuntimesAndFailsDeadOnes() async throws {
        let first = try controller()
        let alive = try await running(first)
        let dead = try await running(first)
        let booting = try await first.create(WorkspaceRequest(project: "p"))
        let bootingStarted = try await first.start(booting.id)
        driver.crash(try #require(dead.runtime).pid)

        // A new controller over the same data directory (the daemon restarted).
        let second = try controller()
        try await second.recover()
        let adopted = try await second.workspace(alive.id)
        #expect(adopted.status == .running && adopted.runtime == alive.runtime)
        #expect(try await second.events(alive.id).last?.reason == "adopted")
        let lost = try await second.workspace(dead.id)
        #expect(lost.status == .error && lost.runtime == nil)
        #expect(try await reasons(second, dead.id).last == "error:controller_restart")
        // The adopted booting VM finishes its start under the new controller.
        driver.setReady(try #require(bootingStarted.runtime).pid)
        await second.tick()
        #expect(try await second.workspace(booting.id).status == .running)
        // And the adopted one stops through the ladder.
        _ = try await second.stop(alive.id)
        #expect(!driver.isAlive(try #require(alive.runtime).pid))
    }

    @Test func updateOnlyWhileStoppedAndNeverShrinks() async throws {
        let c = try controller()
        let ws = try await running(c)
        do {
            _ = try await c.update(ws.id, hardware: HardwareUpdate(cpus: 4), idleTimeout: nil)
            Issue.record("resized a running workspace")
        } catch {
            #expect(error.code == .conflict)
        }
        let idle = try await c.update(ws.id, hardware: nil, idleTimeout: 120)
        #expect(idle.idleTimeout == 120, "the idle timeout changes any time")
        _ = try await c.stop(ws.id)
        let bigger = try await c.update(ws.id, hardware: HardwareUpdate(cpus: 4, memoryMB: 4096, volumeSizeGB: 20), idleTimeout: nil)
        #expect(bigger.hardware.cpus == 4 && bigger.hardware.memoryMB == 4096 && bigger.hardware.volumeSizeGB == 20)
        #expect(driver.with { $0.calls.contains("resize \(ws.id) 10->20") })
        do {
            _ = try await c.update(ws.id, hardware: HardwareUpdate(volumeSizeGB: 5), idleTimeout: nil)
            Issue.record("shrank the volume")
        } catch {
            #expect(error.code == .invalidArgument)
        }
        do {
            _ = try await c.update(ws.id, hardware: HardwareUpdate(cpus: 64), idleTimeout: nil)
            Issue.record("accepted 64 cpus")
        } catch {
            #expect(error.message.contains("between 1 and 8"))
        }
        #expect(try await c.workspace(ws.id).hardware.cpus == 4, "a refused update changes nothing")
    }

    @Test func deleteStopsAndRemovesEverything() async throws {
        let c = try controller()
        let ws = try await running(c)
        try await c.delete(ws.id)
        #expect(!driver.isAlive(try #require(ws.runtime).pid))
        #expect(!driver.with { $0.volumes.contains(ws.id) })
        do {
            _ = try await c.workspace(ws.id)
            Issue.record("still there")
        } catch {
            #expect(error.code == .notFound)
        }
    }

    @Test func waitTimesOutOrFailsFast() async throws {
        let c = try controller()
        let ws = try await c.create(WorkspaceRequest(project: "p"))
        _ = try await c.start(ws.id)
        do {
            _ = try await c.wait(ws.id, for: .running, timeout: 0.3)
            Issue.record("wait returned")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message.contains("still starting"))
        }
        clock.advance(61)
        await c.tick()
        do {
            _ = try await c.wait(ws.id, for: .running, timeout: 30)
            Issue.record("wait returned")
        } catch {
            #expect(error.code == .conflict, "waiting for running on an errored workspace fails at once")
        }
        #expect(try await c.wait(ws.id, for: .error, timeout: 1).status == .error)
    }

    @Test func stateSurvivesReopeningTheDatabase() async throws {
        let c = try controller()
        let ws = try await running(c, idle: 42)
        let reopened = try controller()
        let seen = try await reopened.workspace(ws.id)
        #expect(seen == ws)
        #expect(try await reopened.workspaces(status: .running).map(\.id) == [ws.id])
        #expect(try await reopened.workspaces(status: .stopped).isEmpty)
        #expect(try await reopened.workspaces(project: "other").isEmpty)
    }
}

@Suite(.offCooperativePool) struct WorkspacePiecesTests {
    @Test func qemuCommandLineCarriesTheLabGotchas() {
        let line = QEMUCommandLine(
            name: "aether-ws-ws-abc123", accelerator: "tcg", cpus: 2, memoryMB: 512, kernel: "/g/vmlinux", initrd: "/g/initramfs.cpio.gz",
            runDirectory: "/d/run", volume: "/d/volume.img", sshPort: 2222, sshPublicKey: "ssh-ed25519 AAAA afs", shareSocket: "/d/run/vfs.sock",
            tscKHz: 2_600_000)
        let a = line.arguments
        func value(after flag: String) -> String? { a.firstIndex(of: flag).map { a[$0 + 1] } }
        #expect(value(after: "-name") == "aether-ws-ws-abc123")
        #expect(value(after: "-accel") == "tcg" && value(after: "-smp") == "2" && value(after: "-m") == "512")
        #expect(value(after: "-global") == "virtio-mmio.force-legacy=off")
        #expect(value(after: "-M") == "microvm,memory-backend=mem")
        #expect(a.contains("memory-backend-memfd,id=mem,size=512M,share=on"))
        #expect(a.contains("-daemonize") && value(after: "-pidfile") == "/d/run/qemu.pid")
        #expect(value(after: "-netdev") == "user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22")
        let append = value(after: "-append") ?? ""
        #expect(append.contains("tsc_early_khz=2600000"))
        #expect(append.contains("afs.sshkey=" + Data("ssh-ed25519 AAAA afs".utf8).base64EncodedString()))
        #expect(value(after: "-cpu") == "max", "TCG: the max model (faster user space)")
        #expect(a.contains("-no-reboot") && append.contains("tsc=reliable") && append.contains("afs.hostname=ws-abc123"))
        var kvm = line
        kvm.accelerator = "kvm"
        kvm.shareSocket = nil
        #expect(kvm.arguments.contains("host,-arch-capabilities"))
        #expect(kvm.arguments.last == "microvm")
    }

    @Test func connectionModes() {
        let ssh = ConnectionInfo(kind: "ssh", argv: ["ssh", "-p", "2222", "root@127.0.0.1"], interactiveArgs: ["-t"])
        #expect(ssh.argv(for: .interactive) == ["ssh", "-p", "2222", "-t", "root@127.0.0.1"])
        #expect(ssh.argv(for: .command("uname -a")) == ["ssh", "-p", "2222", "root@127.0.0.1", "uname -a"])
        #expect(ssh.argv(for: .script) == ["ssh", "-p", "2222", "root@127.0.0.1", "sh -s"])
        let ns = ConnectionInfo(kind: "nsenter", argv: ["nsenter", "-t", "42"])
        #expect(ns.argv(for: .command("ls")) == ["nsenter", "-t", "42", "/bin/sh", "-c", "ls"])
        #expect(ns.argv(for: .script) == ["nsenter", "-t", "42", "/bin/sh", "-s"])
        // On a base image: the project directory, the login shell, and a session of its own on a terminal.
        let user = ConnectionInfo(kind: "nsenter", argv: ["nsenter", "-t", "42", "--", "setpriv", "--reuid=1000"], interactiveArgs: ["setsid", "-c"], directory: "/workspace")
        #expect(user.argv(for: .interactive) == ["nsenter", "-t", "42", "--", "setsid", "-c", "setpriv", "--reuid=1000", "/bin/sh", "-c", #"cd '/workspace' 2>/dev/null; exec "${SHELL:-/bin/sh}" -l"#])
        #expect(user.argv(for: .command("make test")) == ["nsenter", "-t", "42", "--", "setpriv", "--reuid=1000", "/bin/sh", "-c", #"cd '/workspace' 2>/dev/null; exec "${SHELL:-/bin/sh}" -c "$0""#, "make test"])
        let vm = ConnectionInfo(kind: "ssh", argv: ["ssh", "aether@127.0.0.1"], interactiveArgs: ["-t"], directory: "/workspace")
        #expect(vm.argv(for: .interactive) == ["ssh", "-t", "aether@127.0.0.1", #"cd '/workspace' 2>/dev/null; exec "${SHELL:-/bin/sh}" -l"#])
        #expect(vm.argv(for: .command("exit 3")) == ["ssh", "aether@127.0.0.1", "cd '/workspace' 2>/dev/null; exit 3"])
    }

    @Test func processTableSeesZombiesAsDead() throws {
        #expect(ProcessTable.isAlive(getpid()))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "exit 0"]
        try child.run()
        // Not yet reaped: a zombie for a moment; isAlive must not call it alive once it exited.
        let pid = child.processIdentifier
        #expect(ProcessTable.waitForExit(pid, timeout: 5))
        child.waitUntilExit()
        #expect(!ProcessTable.isAlive(999_999_999))
    }
}

/// The test clock drives the controller's deadlines and idle stops.
extension ManualClock: WorkspaceClock {}

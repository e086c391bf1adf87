import AFSSupport
import AFSWorkspaces
import Foundation
import Synchronization

/// A driver whose runtimes are entries in a table the test controls: only for tests of the state
/// machine (transitions, deadlines, idleness, adoption) without starting anything.
final class FakeDriver: WorkspaceDriver {
    struct Runtime {
        var ready = false
        var alive = true
        var activity = Activity(connections: 0, tasks: 0)
    }

    struct State {
        var runtimes: [Int32: Runtime] = [:]
        var nextPID: Int32 = 1000
        var failNextStart: String?
        var stopFails = false
        var readyOnStart = false
        var volumes: Set<String> = []
        var calls: [String] = []
    }

    let state = Locked(State())
    let name = "fake"
    let availableGPUs: [String]
    let bootTimeout: Double

    init(bootTimeout: Double = 60, gpus: [String] = []) {
        self.bootTimeout = bootTimeout
        availableGPUs = gpus
    }

    func with<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }

    func prepare(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        with { $0.volumes.insert(ws.id); $0.calls.append("prepare \(ws.id)") }
    }

    func resize(_ ws: WorkspaceSpec, from old: WorkspaceHardware) async throws(WorkspaceError) {
        with { $0.calls.append("resize \(ws.id) \(old.volumeSizeGB)->\(ws.hardware.volumeSizeGB)") }
    }

    func start(_ ws: WorkspaceSpec) async throws(WorkspaceError) -> RuntimeHandle {
        let result: Result<RuntimeHandle, WorkspaceError> = with { s in
            s.calls.append("start \(ws.id)")
            if let why = s.failNextStart {
                s.failNextStart = nil
                return .failure(WorkspaceError(.driver, why))
            }
            let pid = s.nextPID
            s.nextPID += 1
            s.runtimes[pid] = Runtime(ready: s.readyOnStart)
            return .success(RuntimeHandle(pid: pid, startedAt: Date()))
        }
        return try result.get()
    }

    func observe(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Observation {
        with { s in
            s.calls.append("observe \(ws.id)")
            guard let r = s.runtimes[handle.pid], r.alive else { return .exited("fake runtime \(handle.pid) gone") }
            return r.ready ? .ready : .booting
        }
    }

    func exitReason(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> String? {
        with { s in
            s.calls.append("exitReason \(ws.id)")
            return s.runtimes[handle.pid]?.alive == true ? nil : "fake runtime \(handle.pid) gone"
        }
    }

    func activity(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Activity? {
        with { s in s.runtimes[handle.pid].flatMap { $0.alive ? $0.activity : nil } }
    }

    func stop(_ ws: WorkspaceSpec, _ handle: RuntimeHandle, ladder: StopLadder) async -> StopOutcome {
        with { s in
            s.calls.append("stop \(ws.id)")
            if s.stopFails { return .failed("fake runtime \(handle.pid) will not stop") }
            s.runtimes[handle.pid]?.alive = false
            return .stopped(rung: "agent")
        }
    }

    func adopt(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) async -> Bool {
        with { $0.runtimes[handle.pid]?.alive == true }
    }

    func cleanup(_ ws: WorkspaceSpec, _ handle: RuntimeHandle?) async {
        with { s in
            s.calls.append("cleanup \(ws.id)")
            if let handle, !s.stopFails { s.runtimes[handle.pid]?.alive = false }
        }
    }

    func destroy(_ ws: WorkspaceSpec) async throws(WorkspaceError) {
        with { $0.volumes.remove(ws.id); $0.calls.append("destroy \(ws.id)") }
    }

    func connection(_ ws: WorkspaceSpec, _ handle: RuntimeHandle) -> ConnectionInfo {
        ConnectionInfo(kind: "fake", argv: ["true"])
    }

    // Test controls

    func setReady(_ pid: Int32) { with { $0.runtimes[pid]?.ready = true } }
    func crash(_ pid: Int32) { with { $0.runtimes[pid]?.alive = false } }
    func setActivity(_ pid: Int32, _ a: Activity) { with { $0.runtimes[pid]?.activity = a } }
    func isAlive(_ pid: Int32) -> Bool { with { $0.runtimes[pid]?.alive == true } }
}

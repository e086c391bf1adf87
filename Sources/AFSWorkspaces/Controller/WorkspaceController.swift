import AFSSupport
import Foundation

/// The workspace state machine: persists desired and observed state before every action, drives
/// a ``WorkspaceDriver``, enforces deadlines, stops idle workspaces and adopts VMs that outlived
/// a previous controller.
///
/// One operation at a time per workspace: API calls and the reconcile pass (`tick`) take a
/// per-workspace turn, so a slow stop ladder never races a start or a deadline check. Time comes
/// from an injected ``WorkspaceClock`` so tests can drive deadlines and idle stops without waiting.
public actor WorkspaceController {
    public struct Configuration: Sendable {
        public var dataDirectory: String
        /// Idle timeout of new workspaces, in seconds (0 disables).
        public var defaultIdleTimeout = 600
        /// How often a running workspace's agent is asked for its activity.
        public var activityInterval: Double = 10
        public var ladder = StopLadder()
        /// When set, each workspace gets its own fork of the project's AetherFS session at /workspace.
        public var projectFiles: (any ProjectFiles)?

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }
    }

    public let configuration: Configuration
    public nonisolated let driver: any WorkspaceDriver
    let clock: any WorkspaceClock
    let db: WorkspaceDatabase
    /// Workspaces with an operation in flight.
    private var busy: Set<String> = []
    private var lastActivityPoll: [String: Date] = [:]

    public init(configuration: Configuration, driver: any WorkspaceDriver, clock: any WorkspaceClock = SystemClock()) throws(WorkspaceError) {
        self.configuration = configuration
        self.driver = driver
        self.clock = clock
        do {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory + "/workspaces", withIntermediateDirectories: true)
        } catch {
            throw WorkspaceError(.io, "cannot create \(configuration.dataDirectory)/workspaces: \(error.localizedDescription)")
        }
        db = try WorkspaceDatabase(path: configuration.dataDirectory + "/workspaces.sqlite")
    }

    // MARK: Queries

    public func workspace(_ id: String) throws(WorkspaceError) -> Workspace {
        guard let ws = try db.workspace(id) else {
            throw WorkspaceError(.notFound, "no workspace \(id); list them with `aether workspace list`")
        }
        return ws
    }

    public func workspaces(status: WorkspaceStatus? = nil, project: String? = nil) throws(WorkspaceError) -> [Workspace] {
        try db.workspaces(status: status, project: project)
    }

    public func events(_ id: String) throws(WorkspaceError) -> [WorkspaceEvent] {
        _ = try workspace(id)
        return try db.events(id)
    }

    /// The last `maxBytes` of the console of the current or last run.
    public func console(_ id: String, maxBytes: Int = 64 << 10) throws(WorkspaceError) -> String {
        let ws = try workspace(id)
        return WorkspaceController.tail(of: spec(ws).consoleLog, maxBytes: maxBytes)
    }

    /// How to open a shell in a running workspace (counts as activity).
    public func connection(_ id: String) throws(WorkspaceError) -> ConnectionInfo {
        var ws = try workspace(id)
        guard ws.status == .running, let handle = ws.runtime else {
            throw WorkspaceError(.conflict, "workspace \(id) is \(ws.status.rawValue), not running; start it with `aether workspace start \(id)`")
        }
        ws.lastActiveAt = clock.now()
        try db.save(ws)
        return driver.connection(spec(ws), handle)
    }

    /// Marks the workspace as used now, postponing its idle stop.
    public func touch(_ id: String) throws(WorkspaceError) {
        var ws = try workspace(id)
        ws.lastActiveAt = clock.now()
        try db.save(ws)
    }

    // MARK: Lifecycle

    public func create(_ request: WorkspaceRequest) async throws(WorkspaceError) -> Workspace {
        let project = request.project.trimmingCharacters(in: .whitespaces)
        guard !project.isEmpty, project.count <= 128, !project.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw WorkspaceError(.invalidArgument, "project must be a non-empty name of at most 128 characters")
        }
        try request.hardware.validate(gpuAvailable: driver.availableGPUs)
        let image = try driver.resolveImage(request.image)
        // On a base image (a Debian system) people and agents work as a non-root user with sudo, as
        // on any development machine; the minimal root stays root unless a user is asked for.
        let user = try WorkspaceController.validUser(request.user ?? (image == nil ? nil : WorkspaceController.defaultUser))
        let idle = request.idleTimeout ?? configuration.defaultIdleTimeout
        guard idle >= 0 else { throw WorkspaceError(.invalidArgument, "idle_timeout must be >= 0 seconds (0 disables)") }
        var id = WorkspaceController.newID()
        while try db.workspace(id) != nil { id = WorkspaceController.newID() }
        let now = clock.now()
        var ws = Workspace(
            id: id, project: project, status: .stopped, desired: .stopped, hardware: request.hardware, driver: driver.name,
            idleTimeout: idle, createdAt: now, updatedAt: now, lastActiveAt: now, deadline: nil, error: nil, generation: 0,
            session: nil, runtime: nil, user: user, image: image)
        busy.insert(id)
        defer { busy.remove(id) }
        if let files = configuration.projectFiles { ws.session = try await files.provision(project: project, workspace: id) }
        do {
            try await driver.prepare(spec(ws))
        } catch {
            await driver.cleanup(spec(ws), nil)
            try? await driver.destroy(spec(ws))
            if let session = ws.session { await configuration.projectFiles?.release(session: session) }
            throw error
        }
        let detail = [ws.hardware.summary, ws.image.map { "image \($0)" }, ws.loginUser.map { "user \($0)" }].compactMap { $0 }.joined(separator: ", ")
        try db.save(ws, event: event(ws, from: nil, to: .stopped, reason: "created", detail: detail))
        return ws
    }

    /// The login user of a workspace on a base image when none is named.
    public static let defaultUser = "aether"

    /// A POSIX portable user name (what Debian's useradd accepts by default), or `root` for none.
    static func validUser(_ name: String?) throws(WorkspaceError) -> String? {
        guard let name else { return nil }
        let valid = !name.isEmpty && name.count <= 32 && name.first.map { $0 == "_" || ("a"..."z").contains($0) } == true
            && name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
        guard valid else {
            throw WorkspaceError(.invalidArgument, "user must be 1-32 characters of a-z, 0-9, _ and -, starting with a letter or _ (got \(name))")
        }
        return name
    }

    /// Changes hardware and the base image (stopped workspaces only) and the idle timeout (any time).
    ///
    /// A new image is a rebase: the workspace's changes (its overlay's upper layer) stay and now
    /// lie over the new base, so files the user changed keep the user's version (including dpkg's
    /// status file, if packages were installed: reinstall them on the new base to pick up its copy).
    public func update(_ id: String, hardware change: HardwareUpdate?, idleTimeout: Int?, image: String? = nil) async throws(WorkspaceError) -> Workspace {
        await acquire(id)
        defer { busy.remove(id) }
        var ws = try workspace(id)
        var details: [String] = []
        if let change, change.applied(to: ws.hardware) != ws.hardware {
            guard ws.status == .stopped else {
                throw WorkspaceError(.conflict, "workspace \(id) is \(ws.status.rawValue): hardware changes only while stopped; run `aether workspace stop \(id)` first")
            }
            let updated = change.applied(to: ws.hardware)
            try updated.validate(gpuAvailable: driver.availableGPUs)
            guard updated.volumeSizeGB >= ws.hardware.volumeSizeGB else {
                throw WorkspaceError(.invalidArgument, "volume_size_gb cannot shrink (from \(ws.hardware.volumeSizeGB) to \(updated.volumeSizeGB)): the volume holds the workspace's files")
            }
            let old = ws.hardware
            ws.hardware = updated
            try await driver.resize(spec(ws), from: old)
            details.append("hardware \(old.summary)/\(old.volumeSizeGB)gb -> \(updated.summary)/\(updated.volumeSizeGB)gb")
        }
        if let image {
            let version = try driver.resolveImage(image)
            if version != ws.image {
                guard ws.status == .stopped else {
                    throw WorkspaceError(.conflict, "workspace \(id) is \(ws.status.rawValue): the image changes only while stopped; run `aether workspace stop \(id)` first")
                }
                details.append("image \(ws.image ?? BaseImages.minimal) -> \(version ?? BaseImages.minimal)")
                ws.image = version
                if version != nil, ws.user == nil { ws.user = WorkspaceController.defaultUser }
            }
        }
        if let idleTimeout {
            guard idleTimeout >= 0 else { throw WorkspaceError(.invalidArgument, "idle_timeout must be >= 0 seconds (0 disables)") }
            if idleTimeout != ws.idleTimeout { details.append("idle_timeout \(ws.idleTimeout) -> \(idleTimeout)") }
            ws.idleTimeout = idleTimeout
        }
        guard !details.isEmpty else { return ws }
        ws.updatedAt = clock.now()
        ws.generation += 1
        try db.save(ws, event: event(ws, from: ws.status, to: ws.status, reason: "updated", detail: details.joined(separator: "; ")))
        return ws
    }

    /// Starts the workspace; returns in `starting` (the reconcile pass sees it become `running`).
    /// Starting a running or starting workspace succeeds without doing anything.
    @discardableResult
    public func start(_ id: String) async throws(WorkspaceError) -> Workspace {
        await acquire(id)
        defer { busy.remove(id) }
        var ws = try workspace(id)
        switch ws.status {
        case .running, .starting:
            if ws.desired != .running {
                ws.desired = .running
                try db.save(ws)
            }
            return ws
        case .stopping:
            try await runStop(&ws, reason: "restart")
        case .error, .stopFailed:
            await cleanupRuntime(ws)
            ws.runtime = nil
        case .stopped:
            break
        }
        ws.desired = .running
        ws.error = nil
        ws.runtime = nil
        ws.deadline = clock.now().addingTimeInterval(driver.bootTimeout)
        try transition(&ws, to: .starting, reason: "user")
        do {
            if let session = ws.session, let files = configuration.projectFiles, let share = spec(ws).shareDirectory {
                try await files.attach(session: session, at: share, owner: ws.loginUser == nil ? nil : WorkspaceSpec.userID)
            }
            ws.runtime = try await driver.start(spec(ws))
            try db.save(ws)
        } catch {
            await cleanupRuntime(ws)
            ws.runtime = nil
            ws.deadline = nil
            ws.error = error.message
            try transition(&ws, to: .error, reason: "start_failed", detail: error.message)
            throw error
        }
        return ws
    }

    /// Stops the workspace through the stop ladder; returns once it is `stopped` (or `stop_failed`).
    /// Stopping a stopped workspace succeeds without doing anything.
    @discardableResult
    public func stop(_ id: String, reason: String = "user") async throws(WorkspaceError) -> Workspace {
        await acquire(id)
        defer { busy.remove(id) }
        var ws = try workspace(id)
        try await runStop(&ws, reason: reason)
        return ws
    }

    /// Stops whatever runs, then deletes the volume, the run directory and the records.
    public func delete(_ id: String) async throws(WorkspaceError) {
        await acquire(id)
        defer { busy.remove(id) }
        let ws = try workspace(id)
        if let handle = ws.runtime, ws.status != .stopped {
            if case .failed = await driver.stop(spec(ws), handle, ladder: configuration.ladder) {
                // The ladder's last rung failed; cleanup below is the last word.
            }
        }
        await cleanupRuntime(ws)
        try await driver.destroy(spec(ws))
        if let session = ws.session { await configuration.projectFiles?.release(session: session) }
        try db.delete(id)
        lastActivityPoll[id] = nil
    }

    /// Waits until the workspace reaches `state`. Fails early when it reaches a state from which
    /// `state` cannot follow without another request (e.g. `error` while waiting for `running`).
    public nonisolated func wait(_ id: String, for state: WorkspaceStatus, timeout: Double) async throws(WorkspaceError) -> Workspace {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .milliseconds(Int64(timeout * 1000)))
        while true {
            let ws = try await workspace(id)
            if ws.status == state { return ws }
            let hopeless: Bool
            switch state {
            case .running, .starting: hopeless = ws.status == .error || ws.status == .stopFailed || (ws.status == .stopped && ws.desired == .stopped)
            // A running workspace may still stop: by idleness, or by another client.
            case .stopped, .stopping: hopeless = ws.status == .stopFailed
            case .error, .stopFailed: hopeless = false
            }
            if hopeless {
                throw WorkspaceError(.conflict, "workspace \(id) is \(ws.status.rawValue)\(ws.error.map { " (\($0))" } ?? ""), not \(state.rawValue)")
            }
            if clock.now >= end {
                throw WorkspaceError(.timeout, "workspace \(id) is still \(ws.status.rawValue) after \(Int(timeout)) s (waiting for \(state.rawValue))")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    // MARK: Reconciliation

    /// Re-adopts runtimes recorded as live by a previous controller, or marks them `error` and
    /// cleans up what is left of them. Call once before serving.
    public func recover() async throws(WorkspaceError) {
        for var ws in try db.workspaces() where ws.status.isTransitional || ws.status == .running {
            busy.insert(ws.id)
            defer { busy.remove(ws.id) }
            if let handle = ws.runtime, await driver.adopt(spec(ws), handle) {
                try db.record(event(ws, from: ws.status, to: ws.status, reason: "adopted", detail: "pid \(handle.pid)"))
                continue
            }
            await cleanupRuntime(ws)
            ws.runtime = nil
            ws.deadline = nil
            ws.error = "its runtime was gone when the controller restarted (last seen \(ws.status.rawValue))"
            try transition(&ws, to: .error, reason: "controller_restart", detail: ws.error)
        }
    }

    /// One reconcile pass: promotes booted workspaces to `running`, enforces deadlines, notices
    /// runtimes that died, and stops idle ones. The daemon calls it every second.
    public func tick() async {
        guard let all = try? db.workspaces() else { return }
        for ws in all where !busy.contains(ws.id) {
            switch ws.status {
            case .starting, .running, .stopping:
                busy.insert(ws.id)
                let idle = await reconcile(ws.id)
                busy.remove(ws.id)
                if idle { _ = try? await stop(ws.id, reason: "idle") }
            case .stopped, .error, .stopFailed:
                continue
            }
        }
    }

    /// Reconciles one workspace; returns true when it should be stopped for idleness.
    private func reconcile(_ id: String) async -> Bool {
        do {
            var ws = try workspace(id)
            let now = clock.now()
            switch ws.status {
            case .starting:
                let observation: Observation = if let h = ws.runtime { await driver.observe(spec(ws), h) } else { .booting }
                switch observation {
                case .ready:
                    let took = ws.runtime.map { String(format: "ready %.1f s after launch", now.timeIntervalSince($0.startedAt)) }
                    ws.lastActiveAt = now
                    ws.deadline = nil
                    try transition(&ws, to: .running, reason: "ready", detail: took)
                case .exited(let why):
                    try await fail(&ws, reason: "exited", "it exited while starting: \(why)")
                case .booting:
                    if let deadline = ws.deadline, now >= deadline {
                        try await fail(&ws, reason: "boot_deadline", "it did not become ready within \(Int(driver.bootTimeout)) s; console: \(consoleTail(ws))")
                    }
                }
            case .running:
                guard let h = ws.runtime else {
                    try await fail(&ws, reason: "exited", "no runtime is recorded")
                    return false
                }
                if let why = await driver.exitReason(spec(ws), h) {
                    try await fail(&ws, reason: "exited", "it exited unexpectedly: \(why)")
                    return false
                }
                guard ws.idleTimeout > 0 else { return false }
                if now.timeIntervalSince(lastActivityPoll[id] ?? .distantPast) >= configuration.activityInterval {
                    lastActivityPoll[id] = now
                    if let activity = await driver.activity(spec(ws), h), !activity.isIdle {
                        ws.lastActiveAt = now
                        try db.save(ws)
                    }
                }
                return now.timeIntervalSince(ws.lastActiveAt) >= Double(ws.idleTimeout)
            case .stopping:
                // A stop that lost its controller (restart): finish it.
                busy.remove(id)
                _ = try? await stop(id, reason: "resume")
                busy.insert(id)
            case .stopped, .error, .stopFailed:
                break
            }
        } catch {
            // The next pass retries; a database that cannot be written is reported by API calls.
        }
        return false
    }

    // MARK: Internals

    private func runStop(_ ws: inout Workspace, reason: String) async throws(WorkspaceError) {
        switch ws.status {
        case .stopped:
            if ws.desired != .stopped {
                ws.desired = .stopped
                try db.save(ws)
            }
            return
        case .error, .stopFailed:
            await cleanupRuntime(ws)
            ws.runtime = nil
            ws.desired = .stopped
            ws.deadline = nil
            try transition(&ws, to: .stopped, reason: reason, detail: "forced cleanup after \(ws.status.rawValue)")
            return
        case .starting, .running, .stopping:
            break
        }
        ws.desired = .stopped
        ws.deadline = clock.now().addingTimeInterval(configuration.ladder.total)
        if ws.status != .stopping { try transition(&ws, to: .stopping, reason: reason) } else { try db.save(ws) }
        let outcome: StopOutcome
        if let handle = ws.runtime {
            outcome = await driver.stop(spec(ws), handle, ladder: configuration.ladder)
        } else {
            await cleanupRuntime(ws)
            outcome = .stopped(rung: "already")
        }
        ws.deadline = nil
        switch outcome {
        case .stopped(let rung):
            await cleanupRuntime(ws)
            ws.runtime = nil
            ws.error = nil
            try transition(&ws, to: .stopped, reason: reason, detail: "rung=\(rung)")
        case .failed(let why):
            ws.error = why
            try transition(&ws, to: .stopFailed, reason: "stop_deadline", detail: why)
        }
        lastActivityPoll[ws.id] = nil
    }

    private func fail(_ ws: inout Workspace, reason: String, _ message: String) async throws(WorkspaceError) {
        await cleanupRuntime(ws)
        ws.runtime = nil
        ws.deadline = nil
        ws.error = message
        try transition(&ws, to: .error, reason: reason, detail: message)
    }

    private func transition(_ ws: inout Workspace, to status: WorkspaceStatus, reason: String, detail: String? = nil) throws(WorkspaceError) {
        let from = ws.status
        ws.status = status
        ws.generation += 1
        ws.updatedAt = clock.now()
        try db.save(ws, event: event(ws, from: from, to: status, reason: reason, detail: detail))
    }

    private func event(_ ws: Workspace, from: WorkspaceStatus?, to: WorkspaceStatus?, reason: String, detail: String?) -> WorkspaceEvent {
        WorkspaceEvent(seq: 0, workspace: ws.id, at: clock.now(), from: from, to: to, reason: reason, detail: detail)
    }

    /// Waits for this workspace's turn (one operation at a time per workspace).
    private func acquire(_ id: String) async {
        while busy.contains(id) { try? await Task.sleep(for: .milliseconds(20)) }
        busy.insert(id)
    }

    func spec(_ ws: Workspace) -> WorkspaceSpec {
        let directory = configuration.dataDirectory + "/workspaces/" + ws.id
        // Beside the run directory, not in it: cleanup kills what runs from there, never the mount.
        return WorkspaceSpec(
            id: ws.id, hardware: ws.hardware, directory: directory, shareDirectory: ws.session.map { _ in directory + "/project" },
            user: ws.loginUser, image: ws.image)
    }

    /// Ends whatever is left of the runtime, then unmounts the project files (after the VM, so
    /// its last writes reach the session).
    private func cleanupRuntime(_ ws: Workspace) async {
        await driver.cleanup(spec(ws), ws.runtime)
        if let share = spec(ws).shareDirectory { await configuration.projectFiles?.detach(share) }
    }

    private func consoleTail(_ ws: Workspace) -> String {
        let lines = WorkspaceController.tail(of: spec(ws).consoleLog, maxBytes: 2048).split(separator: "\n").suffix(5)
        return lines.isEmpty ? "(empty)" : lines.joined(separator: " | ")
    }

    static func tail(of path: String, maxBytes: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `ws-` and six lowercase letters or digits, like the seed's `ws-abc123`.
    static func newID() -> String { RandomID.base32(prefix: "ws-", count: 6) }
}

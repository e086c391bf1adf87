import AFSClient
import AFSCore
import AFSSupport
import AFSMount
import ArgumentParser
import Foundation

/// `aether mount`: a session as a directory, for tools that only know local paths.
struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount a session on a directory (FUSE) until Ctrl-C, SIGTERM or `aether unmount DIR`.",
        discussion: """
            Runs in the foreground. File contents are fetched once into a local cache keyed by content
            identity and shared by every mount on the machine ([cache] dir and max_bytes in config.toml,
            default ~/.cache/aether and 4 GiB). Writes are buffered per open file and published as one
            atomic file write. close, unlink, mkdir and rmdir return once the mount has the change, and
            worker threads send it to the store moments later, many at a time (write-back): fsync returns
            once the store has the file durably, `aether sync DIR` once it has every acknowledged change,
            and unmount sends everything first. --sync-close makes each of those calls wait for the store
            instead (a round trip per file). With --store the mount holds the store for its lifetime;
            other aether commands reach the session through it, or through an afs-server.

            A running mount registers itself (in $XDG_RUNTIME_DIR/aether/mounts, else /tmp/aether-UID/mounts)
            and answers on a control socket there: `aether checkpoint DIR` takes a checkpoint holding every
            write the mount acknowledged, `aether metrics show DIR` prints its counters, `aether status`
            lists mounts, `aether logs DIR` prints its log. It serves Prometheus metrics on
            [logging] metrics_addr (default 127.0.0.1:9464; "off" disables) and writes its log lines as
            [logging] format = "text" or "json".
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Session to mount.") var session: String
    @Argument(help: "Directory to mount on (must exist).") var directory: String
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Local cache directory (default: [cache] dir).", valueName: "DIR"))
    var cacheDirectory: String?
    @Option(name: .customShort("o"), help: ArgumentHelp(
        "Extra mount options, comma-separated: FUSE's (allow_other, ro, …) and the access-time policy.",
        discussion: "relatime (default: an open for reading moves a file's access time when it is not after its last change, or is a day old), strictatime (every open for reading) or noatime (never; ro implies it).",
        valueName: "OPTIONS"))
    var mountOptions: String?
    @Flag(help: ArgumentHelp(
        "Serve extended attributes (user. namespace: getfattr, setfattr, tar --xattrs).",
        discussion: "Off by default: with them, the kernel asks the mount for security.capability before every write(2), one more round trip per write."))
    var xattrs = false
    @Flag(name: .customLong("sync-close"), help: ArgumentHelp(
        "Make close, unlink, mkdir and rmdir return only once the store has the change durably.",
        discussion: "Without it they return at once and the change follows moments later (fsync and `aether sync` wait for it): other clients of the session see a closed file a few milliseconds later, and a crash of the mount's machine may lose changes no fsync or sync covered, as with a local disk."))
    var syncClose = false
    @Option(help: ArgumentHelp(
        "Show entries that record no owner (imported trees, files the mounting user made) as owned by UID:GID instead of the mounting user.",
        discussion: "For a mount shared into a VM or container whose user is not the host's: afs-vmd mounts a workspace's project files with its user's ids.",
        valueName: "UID:GID"))
    var owner: String?
    @Flag(help: "Detach once mounted: the mount keeps running in its own session; its log goes to --log.")
    var background = false
    @Option(help: ArgumentHelp("Log file of a --background mount (default: CACHE_DIR/mount-SESSION.log).", valueName: "FILE"))
    var log: String?

    /// Set in the environment of the detached child so it stops writing to the parent's pipe.
    static let detachedVariable = "AETHER_MOUNT_DETACHED"

    func run() throws {
        let mountpoint = MountRegistry.canonical(directory)
        if let owner {
            guard Caller(parsing: owner) != nil else {
                throw CLIError(AFSError(.invalidArgument, "--owner must be UID:GID (numbers), e.g. 1000:1000 (got \(owner))"), json: global.json)
            }
            // Before anything reads Caller.mounter; a --background child gets it again from its arguments.
            setenv(Caller.ownerVariable, owner, 1)
        }
        if let problem = FUSEMount.availability() { throw CLIError(AFSError(.unavailable, "cannot mount: \(problem)"), json: global.json) }
        if background {
            do throws(AFSError) {
                try detach()
            } catch {
                throw CLIError(error, json: global.json)
            }
            return
        }
        let store = try global.openStore()
        do throws(AFSError) {
            // The mount's worker threads share one service.
            let (service, transport) = try GlobalOptions.threadSafe(store)
            let config = try ClientConfiguration.load()
            var cacheConfiguration = try ContentCache.Configuration.load(config)
            if let cacheDirectory { cacheConfiguration.directory = cacheDirectory }
            let logging = try LoggingConfiguration.load(config)
            let log = MountLog(format: logging.format, session: session)
            let cache = try ContentCache(cacheConfiguration)
            var options = mountOptions.map { $0.split(separator: ",").map(String.init) } ?? []
            // The mount keeps access times itself (the kernel leaves them to FUSE file systems).
            let accessTimePolicy = AccessTimePolicy(mountOptions: options)
            options.removeAll { AccessTimePolicy(rawValue: $0) != nil }
            let filesystem = try SessionFilesystem(
                service: service, session: session, cache: cache, context: global.context(), accessTimePolicy: accessTimePolicy,
                writePolicy: syncClose ? .synchronous : .writeBack, log: { log.write($0) })
            let mount = FUSEMount(filesystem: filesystem, mountpoint: mountpoint, options: options, extendedAttributes: xattrs)
            var control: MountControl?
            defer { control?.stop() }
            try mount.run {
                // Registered before the announcement: whoever waits for it can use the mount at once.
                do throws(AFSError) {
                    control = try MountControl(
                        filesystem: filesystem, mountpoint: mountpoint, transport: transport, logFile: MountLog.standardErrorFile(),
                        logging: logging, log: log)
                } catch {
                    log.write("no control socket (\(error.message)): `aether checkpoint`, `metrics show` and `status` cannot reach this mount", level: .warning)
                }
                let metrics = control?.record.metrics.map { ", metrics on http://\($0)/metrics" } ?? ""
                log.write("mounted session \(session) at \(mountpoint) (\(store.location))\(metrics)", level: .info)
                global.emit(["session": session, "mountpoint": mountpoint, "store": store.location, "cache": cacheConfiguration.directory]) {
                    "mounted session \(session) at \(mountpoint) (\(store.location)); stop with Ctrl-C or `aether unmount \(mountpoint)`"
                }
                fflush(nil)
                if ProcessInfo.processInfo.environment[MountCommand.detachedVariable] != nil {
                    // The parent has read the announcement and gone: nothing more goes to its pipe.
                    let null = open("/dev/null", O_WRONLY)
                    dup2(null, 1)
                    close(null)
                }
            }
            // No control request may reach the store once it closes.
            control?.stop()
            control = nil
            log.write("unmounted \(mountpoint)", level: .info)
            try store.close()
        } catch {
            try? store.close()
            throw CLIError(error, json: global.json)
        }
    }
}

extension MountCommand {
    /// Starts this same command without `--background` in a new session (setsid), its stdout a
    /// pipe read until the mount has announced itself, its stderr the log; then prints the
    /// announcement and returns, leaving the mount running.
    func detach() throws(AFSError) {
        var cache = try ContentCache.Configuration.load(try ClientConfiguration.load())
        if let cacheDirectory { cache.directory = cacheDirectory }
        let logPath = log ?? cache.directory + "/mount-\(session).log"
        try? FileManager.default.createDirectory(atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // The mount outlives this process: it gets stdio only (the spawner closes every other
        // descriptor in the child), a session of its own (setsid: the terminal's Ctrl-C and
        // hang-up no longer reach it), its stdout a pipe read here until it announces itself.
        var command = Command("/proc/self/exe", Array(CommandLine.arguments.dropFirst().filter { $0 != "--background" }))
        command.environment = [MountCommand.detachedVariable: "1"]
        command.stdout = .pipe
        command.stderr = .appendTo(logPath)
        command.newSession = true
        command.argument0 = CommandLine.arguments[0]
        let child: Command.Running
        do { child = try command.spawn() } catch { throw AFSError(.io, "cannot start the mount process: \(error)") }
        let pid = child.pid
        let output = child.stdout!
        defer { close(output) }
        var announcement = [UInt8]()
        var byte: UInt8 = 0
        // The child points its stdout elsewhere right after announcing the mount, or exits on
        // failure: either way the pipe ends.
        while Glibc.read(output, &byte, 1) == 1 { announcement.append(byte) }
        guard !announcement.isEmpty else {
            _ = try? child.wait()
            let tail = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(3).joined(separator: "\n")
            throw AFSError(.io, "the mount did not start: \(tail.isEmpty ? "see \(logPath)" : tail)")
        }
        FileHandle.standardOutput.write(Data(announcement))
        if !global.json { print("mount process \(pid) runs in the background; its log is \(logPath)") }
    }
}

/// `aether unmount`: ends a mount made by `aether mount` (its process uploads what is pending and exits).
struct UnmountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unmount", abstract: "Unmount a directory mounted with `aether mount`.")

    @Argument(help: "The mounted directory.") var directory: String
    @Flag(help: "Detach now even if busy; the mount goes once nothing uses it.") var lazy = false
    @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

    func run() throws {
        let path = URL(fileURLWithPath: directory).standardizedFileURL.path
        do throws(AFSError) {
            try FUSEMount.unmount(path, lazy: lazy)
        } catch {
            throw CLIError(error, json: json)
        }
    }
}

import AFSClient
import AFSCore
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
            default ~/.cache/aether and 4 GiB). Writes are buffered per open file and published, as one
            atomic file write, on close, flush or fsync (fsync returns once the store has them durably).
            With --store the mount holds the store for its lifetime; other aether commands reach the
            session through it, or through an afs-server.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Session to mount.") var session: String
    @Argument(help: "Directory to mount on (must exist).") var directory: String
    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Local cache directory (default: [cache] dir).", valueName: "DIR"))
    var cacheDirectory: String?
    @Option(name: .customShort("o"), help: ArgumentHelp("Extra FUSE mount options, comma-separated (e.g. allow_other).", valueName: "OPTIONS"))
    var mountOptions: String?

    func run() throws {
        let mountpoint = URL(fileURLWithPath: directory).standardizedFileURL.path
        if let problem = FUSEMount.availability() { throw CLIError(AFSError(.unavailable, "cannot mount: \(problem)"), json: global.json) }
        let store = try global.openStore()
        do throws(AFSError) {
            // Both transports are thread-safe classes; the mount's worker threads share one.
            let service: any AetherService & Sendable
            if let embedded = store as? AetherStore {
                service = embedded
            } else if let remote = store as? RemoteStore {
                service = remote
            } else {
                throw AFSError(.invalidArgument, "the mount needs an embedded store or an afs-server endpoint")
            }
            var cacheConfiguration = try ContentCache.Configuration.load(try ClientConfiguration.load())
            if let cacheDirectory { cacheConfiguration.directory = cacheDirectory }
            let cache = try ContentCache(cacheConfiguration)
            let filesystem = try SessionFilesystem(
                service: service, session: session, cache: cache, context: global.context(),
                log: { line in FileHandle.standardError.write(Data("aether mount: \(line)\n".utf8)) })
            let options = mountOptions.map { $0.split(separator: ",").map(String.init) } ?? []
            let mount = FUSEMount(filesystem: filesystem, mountpoint: mountpoint, options: options)
            try mount.run {
                global.emit(["session": session, "mountpoint": mountpoint, "store": store.location, "cache": cacheConfiguration.directory]) {
                    "mounted session \(session) at \(mountpoint) (\(store.location)); stop with Ctrl-C or `aether unmount \(mountpoint)`"
                }
                fflush(nil)
            }
            try store.close()
        } catch {
            try? store.close()
            throw CLIError(error, json: global.json)
        }
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

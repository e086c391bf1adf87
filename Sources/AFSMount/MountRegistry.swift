import AFSCore
import AFSMountControl
import Foundation

/// A directory of small JSON files, one per live mount on this machine (`<pid>.json`, beside the
/// mount's control socket `<pid>.sock`), so other `aether` processes can find a mount by its
/// directory without asking the kernel.
///
/// It lives in `$XDG_RUNTIME_DIR/aether/mounts` (per user, on tmpfs, emptied at logout), else
/// `/tmp/aether-UID/mounts` (``MountSockets/directory(environment:)``). A mount writes its record
/// once it serves the directory, with a link to its socket named after its mountpoint
/// (``MountSockets/link(forMountpoint:in:)``, for git's fsmonitor hook), and removes both when it
/// ends; a record whose process has died (a crash, SIGKILL) is stale, ignored and removed by
/// whoever reads it next.
public struct MountRegistry: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The registry for this environment.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> MountRegistry {
        MountRegistry(directory: MountSockets.directory(environment: environment))
    }

    public func socketPath(pid: Int32) -> String { directory + "/\(pid).sock" }
    func recordPath(pid: Int32) -> String { directory + "/\(pid).json" }

    /// Creates the directory, owner-only (the sockets can checkpoint sessions).
    func prepare() throws(AFSError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AFSError(.io, "cannot create the mount registry \(directory): \(error)")
        }
    }

    /// Writes `record` (to a temporary name, then renamed: a reader never sees half a record),
    /// then points its mountpoint's socket link at the record's socket (a later mount on the
    /// same directory takes the link over).
    public func register(_ record: MountRecord) throws(AFSError) {
        try prepare()
        let links = MountSockets.linkDirectory(in: directory)
        let link = MountSockets.link(forMountpoint: record.mountpoint, in: directory)
        guard mkdir(links, 0o700) == 0 || errno == EEXIST,
            symlink(record.socket, link + ".tmp") == 0 || (errno == EEXIST && unlink(link + ".tmp") == 0 && symlink(record.socket, link + ".tmp") == 0),
            rename(link + ".tmp", link) == 0
        else {
            throw AFSError(.io, "cannot link the mount's control socket in \(links): \(String(cString: strerror(errno)))")
        }
        let target = recordPath(pid: record.pid)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        do {
            try encoder.encode(record).write(to: URL(fileURLWithPath: target + ".tmp"))
            guard rename(target + ".tmp", target) == 0 else { throw AFSError(.io, String(cString: strerror(errno))) }
        } catch {
            throw AFSError(.io, "cannot register the mount in \(directory): \(error)")
        }
    }

    /// Removes the record and socket of the mount process `pid`, and its mountpoint's link
    /// unless another mount has taken that over since.
    public func remove(_ record: MountRecord) {
        let link = MountSockets.link(forMountpoint: record.mountpoint, in: directory)
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link), target == record.socket {
            unlink(link)
        }
        unlink(recordPath(pid: record.pid))
        unlink(socketPath(pid: record.pid))
    }

    /// Every live mount, by mountpoint; stale records are removed on the way.
    public func live() -> [MountRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var out: [MountRecord] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name),
                let record = try? decoder.decode(MountRecord.self, from: data)
            else { continue }
            guard MountRegistry.isAlive(record.pid) else {
                remove(record)
                continue
            }
            out.append(record)
        }
        return out.sorted { $0.mountpoint < $1.mountpoint }
    }

    /// The mount serving `path` (its mountpoint or any path inside it); with no path, the only
    /// live mount. Errors say which mounts exist.
    public func find(_ path: String?) throws(AFSError) -> MountRecord {
        let mounts = live()
        guard let path else {
            guard mounts.count == 1 else {
                if mounts.isEmpty { throw AFSError(.notFound, "no live aether mount on this machine (registry \(directory))") }
                throw AFSError(.invalidArgument, "\(mounts.count) mounts are live (\(mounts.map(\.mountpoint).joined(separator: ", "))); name one")
            }
            return mounts[0]
        }
        let absolute = MountRegistry.canonical(path)
        let match = mounts.filter { MountPath.isWithin(absolute, $0.mountpoint) }.max { $0.mountpoint.count < $1.mountpoint.count }
        guard let match else {
            let known = mounts.isEmpty ? "none is live" : "live: " + mounts.map(\.mountpoint).joined(separator: ", ")
            throw AFSError(.notFound, "\(absolute) is not inside an aether mount (\(known))")
        }
        return match
    }

    /// `path` made absolute with symlinks resolved where they exist. Resolving a path inside a
    /// mount asks the mount itself (one lookup per component), which is fine: it answers.
    public static func canonical(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return absolute
    }

    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

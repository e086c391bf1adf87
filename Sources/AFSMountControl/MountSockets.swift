import CXXHash
import Glibc

/// Where mounts put their control sockets on this machine, and the name under which each one is
/// found by its mountpoint.
///
/// The registry directory is `$XDG_RUNTIME_DIR/aether/mounts` (per user, on tmpfs, emptied at
/// logout), else `/tmp/aether-UID/mounts`; both short enough for a socket path. Besides
/// `<pid>.sock`, a mount links `by-mountpoint/<XXH3-64 of the mountpoint, hex>.sock` to its
/// socket, so a client that knows only a directory (git's fsmonitor hook, which must answer in a
/// few milliseconds) finds the mount by hashing the directory and its ancestors, without reading
/// every mount's record. The mount checks that the directory asked about is inside it, so a hash
/// collision can only fail a query, never answer for the wrong tree.
public enum MountSockets {
    /// The registry directory for this environment.
    public static func directory(environment: [String: String]) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            return runtime + "/aether/mounts"
        }
        return "/tmp/aether-\(getuid())/mounts"
    }

    /// The directory holding the by-mountpoint links.
    public static func linkDirectory(in registry: String) -> String { registry + "/by-mountpoint" }

    /// The link naming the control socket of the mount at `mountpoint` (an absolute, canonical path).
    public static func link(forMountpoint mountpoint: String, in registry: String) -> String {
        var bytes = Array(mountpoint.utf8)
        let hash = bytes.withUnsafeMutableBytes { XXH3_64bits($0.baseAddress, $0.count) }
        let hex = String(hash, radix: 16)
        return linkDirectory(in: registry) + "/" + String(repeating: "0", count: 16 - hex.count) + hex + ".sock"
    }

    /// `path` and each of its ancestors up to `/`, nearest first: the mountpoints that may hold it.
    static func candidates(_ path: String) -> [String] {
        var out: [String] = []
        var current = path
        while true {
            out.append(current)
            guard current != "/", let slash = current.lastIndex(of: "/") else { break }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
        return out
    }
}

import AFSCore
import AFSSupport
import CFUSE3
import Foundation
import Synchronization

/// Mounts a ``SessionFilesystem`` on a directory and serves it until unmounted.
///
/// Built on libfuse's low-level session (`fuse_session_new`, `fuse_session_mount`, our
/// ``FUSELoop`` of worker threads, `fuse_session_unmount`) rather than `fuse_main`, so the caller decides what the process
/// does: the loop ends on SIGINT, SIGTERM or SIGHUP (libfuse's handlers, installed only for the
/// loop's duration) or when someone runs `aether unmount` / `fusermount3 -u`; then pending writes
/// are uploaded, the directory is unmounted and ``run(ready:)`` returns.
public struct FUSEMount: Sendable {
    public let filesystem: SessionFilesystem
    public let mountpoint: String
    /// Extra `-o` options for the kernel and libfuse (`allow_other`, …).
    public let options: [String]
    /// Worker threads serving requests.
    public let maxThreads: UInt32
    /// Serve extended attributes (`user.` namespace). Off by default: once a file system answers
    /// `getxattr`, the kernel asks it for `security.capability` before every `write(2)` (to know
    /// whether to drop file capabilities), one more round trip per write; left unanswered (`ENOSYS`
    /// once), the kernel stops asking and every xattr call is `EOPNOTSUPP`. JuiceFS makes the same
    /// trade (`--enable-xattr`). Measured in Docs/PERFORMANCE.md.
    public let extendedAttributes: Bool

    public init(
        filesystem: SessionFilesystem, mountpoint: String, options: [String] = [], maxThreads: UInt32 = 16, extendedAttributes: Bool = false
    ) {
        self.filesystem = filesystem
        self.mountpoint = mountpoint
        self.options = options
        self.maxThreads = maxThreads
        self.extendedAttributes = extendedAttributes
    }

    /// Whether this machine can mount: `/dev/fuse` is present and openable, and `fusermount3`
    /// (needed by unprivileged users and by `aether unmount`) is on the PATH.
    public static func availability() -> String? {
        let fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return "/dev/fuse cannot be opened (\(String(cString: strerror(errno)))): load the fuse module or run with access to it" }
        close(fd)
        guard fusermount() != nil else { return "fusermount3 is not installed: apt-get install fuse3" }
        return nil
    }

    /// The path of `fusermount3`, if installed.
    public static func fusermount() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/bin"] where access("\(dir)/fusermount3", X_OK) == 0 {
            return "\(dir)/fusermount3"
        }
        return nil
    }

    /// Mounts, calls `ready` once the directory serves the session, and blocks until unmounted or
    /// signalled; returns after the unmount.
    public func run(followChanges: Bool = true, ready: () -> Void = {}) throws(AFSError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: mountpoint, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AFSError(.notFound, "mount point \(mountpoint) is not an existing directory")
        }
        let optionList = (["fsname=aether:\(filesystem.session)", "subtype=aether", "default_permissions"] + options).joined(separator: ",")
        var argv: [UnsafeMutablePointer<CChar>?] = ["aether", "-o", optionList].map { s in s.withCString { strdup($0) } }
        defer { for p in argv { free(p) } }
        let retained = Unmanaged.passRetained(filesystem)
        defer { retained.release() }

        var ops = FUSEBridge.operations(extendedAttributes: extendedAttributes)
        let session: OpaquePointer? = argv.withUnsafeMutableBufferPointer { buffer in
            var args = fuse_args(argc: Int32(buffer.count), argv: buffer.baseAddress, allocated: 0)
            return afs_session_new(&args, &ops, retained.toOpaque())
        }
        guard let session else { throw AFSError(.invalidArgument, "libfuse refused the mount options \(optionList)") }
        defer { fuse_session_destroy(session) }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            throw AFSError(.io, "cannot mount on \(mountpoint): is it already a mount point, or is /dev/fuse unavailable? (`aether unmount \(mountpoint)` clears a stale mount)")
        }
        filesystem.kernel.attach(session)
        defer { filesystem.kernel.detach() }
        let handlers = fuse_set_signal_handlers(session)
        // A parent's signal mask must not keep the loop from hearing SIGTERM; the loop's threads
        // inherit this one's.
        afs_unblock_termination_signals()
        if followChanges {
            do {
                try filesystem.startFollowingChanges()
            } catch {
                filesystem.note("not following the changefeed (\(error.message)); API writes appear after the 1 s metadata TTL")
            }
        }
        defer { filesystem.stopFollowingChanges() }
        ready()
        let status = FUSELoop(session: session, workers: Int(maxThreads)).run()
        // No invalidation may reach the session's descriptor once the unmount closes it (the
        // number could be reused by any file).
        filesystem.kernel.detach()
        if handlers == 0 { fuse_remove_signal_handlers(session) }
        filesystem.flushAll()
        fuse_session_unmount(session)
        if status < 0 { throw AFSError(.io, "the FUSE loop for \(mountpoint) failed (\(status))") }
    }

    /// Unmounts `directory` (the mount's process then uploads what is pending and exits):
    /// `fusermount3 -u`, or `umount` where fusermount3 is missing. With `lazy`, a busy mount is
    /// detached now and released when its last user lets go.
    public static func unmount(_ directory: String, lazy: Bool = false) throws(AFSError) {
        let (tool, arguments): (String, [String])
        if let fusermount = fusermount() {
            (tool, arguments) = (fusermount, ["-u"] + (lazy ? ["-z"] : []) + [directory])
        } else {
            (tool, arguments) = ("/bin/umount", (lazy ? ["-l"] : []) + [directory])
        }
        var command = Command(tool, arguments)
        command.stdout = .inherit
        command.stderr = .capture
        let result: Command.Result
        do { result = try command.run() } catch { throw AFSError(.externalTool, "cannot run \(tool): \(error)") }
        let message = result.stderrText
        guard result.status == 0 else {
            throw AFSError(
                .externalTool,
                "\((tool as NSString).lastPathComponent) could not unmount \(directory): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

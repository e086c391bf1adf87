import AFSSupport
import AFSClient
import AFSCore
import AFSTLS
import Dispatch
import Foundation
import AFSTestSupport
import CSystemExtras
import Testing

/// The mount against the local disk as a model: the same random sequence of file-system calls on
/// both must give the same results (errno for errno) and the same trees, and after the unmount
/// the session must hold exactly the local tree.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"), .offCooperativePool)
struct DifferentialMountTests {
    enum Operation: CustomStringConvertible {
        case write(String, [UInt8])
        case append(String, [UInt8])
        case patch(String, offset: Int, [UInt8])
        case truncate(String, Int)
        case mkdir(String)
        case rmdir(String)
        case unlink(String)
        case rename(String, String)
        case chmod(String, mode_t)
        case symlink(target: String, String)
        /// Sets the modification time (seconds since 1970, following links) and reports it back.
        case utimens(String, Int)
        case read(String)
        case mkfifo(String)
        /// `lchown`; as root any ids, as anyone else only their own (`EPERM` otherwise, on both sides).
        case chown(String, uid_t, gid_t)
        /// `lsetxattr` (`XATTR_CREATE` when `create`); an empty value removes the attribute instead.
        case setxattr(String, name: String, value: [UInt8], create: Bool)

        var description: String {
            switch self {
            case .write(let p, let b): "write \(p) (\(b.count) bytes)"
            case .append(let p, let b): "append \(p) (\(b.count) bytes)"
            case .patch(let p, let o, let b): "patch \(p) at \(o) (\(b.count) bytes)"
            case .truncate(let p, let n): "truncate \(p) to \(n)"
            case .mkdir(let p): "mkdir \(p)"
            case .rmdir(let p): "rmdir \(p)"
            case .unlink(let p): "unlink \(p)"
            case .rename(let a, let b): "rename \(a) → \(b)"
            case .chmod(let p, let m): "chmod \(p) \(String(m, radix: 8))"
            case .symlink(let t, let p): "symlink \(p) → \(t)"
            case .utimens(let p, let t): "utimens \(p) \(t)"
            case .read(let p): "read \(p)"
            case .mkfifo(let p): "mkfifo \(p)"
            case .chown(let p, let u, let g): "chown \(p) \(u):\(g)"
            case .setxattr(let p, let n, let v, let c): v.isEmpty ? "removexattr \(p) \(n)" : "setxattr \(p) \(n) (\(v.count) bytes\(c ? ", create" : ""))"
            }
        }
    }

    static func randomPath(_ g: inout SplitMix64) -> String {
        let names = ["d0", "d1", "f0", "f1", "f2"]
        // Mostly shallow, so calls often find what earlier calls made rather than failing with ENOENT.
        let depth = [1, 1, 1, 2, 2, 2, 3].randomElement(using: &g)!
        return "/" + (0..<depth).map { _ in names.randomElement(using: &g)! }.joined(separator: "/")
    }

    static func randomBytes(_ g: inout SplitMix64) -> [UInt8] {
        let count = [0, 1, 100, 5000, 70_000].randomElement(using: &g)!
        let seed = UInt8.random(in: 0...255, using: &g)
        return (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    }

    static func randomOperation(_ g: inout SplitMix64) -> Operation {
        let p = randomPath(&g)
        switch Int.random(in: 0..<17, using: &g) {
        case 0, 1: return .write(p, randomBytes(&g))
        case 2: return .append(p, randomBytes(&g))
        case 3: return .patch(p, offset: Int.random(in: 0...6000, using: &g), randomBytes(&g))
        case 4: return .truncate(p, [0, 10, 3000, 80_000].randomElement(using: &g)!)
        case 5, 6: return .mkdir(p)
        case 7: return .rmdir(p)
        case 8: return .unlink(p)
        case 9: return .rename(p, randomPath(&g))
        case 10: return .chmod(p, [0o600, 0o644, 0o700, 0o750, 0o755].randomElement(using: &g)!)
        // Relative targets only: an absolute or `..` target resolves outside the two trees, differently.
        case 11: return .symlink(target: ["d0", "f1", "d1/f0", "nowhere"].randomElement(using: &g)!, p)
        case 12: return .utimens(p, Int.random(in: Self.oldTimes, using: &g))
        case 13: return .mkfifo(p)
        case 14: return .chown(p, [0, 1000, 65534].randomElement(using: &g)!, [0, 100, 65534].randomElement(using: &g)!)
        case 15:
            let value = [[], [1], Array("text/plain".utf8), [UInt8](repeating: 9, count: 300)].randomElement(using: &g)!
            return .setxattr(p, name: ["user.a", "user.mime"].randomElement(using: &g)!, value: value, create: Bool.random(using: &g))
        default: return .read(p)
        }
    }

    /// Applies `op` under `root`: "ok", "ok <bytes>" for reads, or the errno's name.
    static func apply(_ op: Operation, under root: String) -> String {
        func result(_ rc: Int32) -> String { rc == 0 ? "ok" : "errno \(errno)" }
        func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int?) -> String {
            defer { close(fd) }
            let n = bytes.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return offset.map { pwrite(fd, base, b.count, off_t($0)) } ?? write(fd, base, b.count)
            }
            return n == bytes.count ? "ok" : "errno \(errno)"
        }
        switch op {
        case .write(let p, let bytes):
            // O_NONBLOCK: a FIFO without a reader answers ENXIO instead of waiting (no effect on files).
            let fd = open(root + p, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK, 0o644)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: nil)
        case .append(let p, let bytes):
            let fd = open(root + p, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK, 0o644)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: nil)
        case .patch(let p, let offset, let bytes):
            let fd = open(root + p, O_WRONLY | O_NONBLOCK)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: offset)
        case .truncate(let p, let n): return result(truncate(root + p, off_t(n)))
        case .mkdir(let p): return result(mkdir(root + p, 0o755))
        case .rmdir(let p): return result(rmdir(root + p))
        case .unlink(let p): return result(unlink(root + p))
        case .rename(let a, let b): return result(rename(root + a, root + b))
        case .chmod(let p, let mode): return result(chmod(root + p, mode))
        case .symlink(let target, let p): return result(symlink(target, root + p))
        case .utimens(let p, let seconds):
            let times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
            guard utimensat(AT_FDCWD, root + p, times, 0) == 0 else { return "errno \(errno)" }
            var st = stat()
            guard stat(root + p, &st) == 0 else { return "errno \(errno) after utimens" }
            return "ok \(st.st_mtim.tv_sec)"
        case .mkfifo(let p): return result(mkfifo(root + p, 0o640))
        case .chown(let p, let uid, let gid): return result(lchown(root + p, uid, gid))
        case .setxattr(let p, let name, let value, let create):
            if value.isEmpty { return result(lremovexattr(root + p, name)) }
            return result(value.withUnsafeBytes { lsetxattr(root + p, name, $0.baseAddress, value.count, create ? 1 : 0) })
        case .read(let p):
            var st = stat()
            // Opening a FIFO would wait for a writer.
            if lstat(root + p, &st) == 0, st.st_mode & S_IFMT == S_IFIFO { return "fifo" }
            guard let data = FileManager.default.contents(atPath: root + p) else { return "unreadable" }
            return "ok \(data.count) \(data.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })"
        }
    }

    /// Times `utimens` sets: long before the test runs, so a time in this range was set by it.
    static let oldTimes = 900_000_000...1_100_000_000

    struct Node: Equatable, CustomStringConvertible {
        var path: String
        var kind: EntryKind
        /// Permission bits of files and directories (0 for links: always 0777).
        var mode: UInt32
        /// File bytes, or a link's target.
        var bytes: [UInt8]
        /// Seconds since 1970.
        var mtime: Int
        /// "uid:gid" and the `user.` attributes, "name=bytes;…" sorted.
        var owner = ""
        var xattrs = ""
        var description: String { "\(path) \(kind) \(String(mode, radix: 8)) \(bytes.count)B t=\(mtime) \(owner) [\(xattrs)]" }

        /// The same entry. Times count where `utimens` set one on the model (`local`): a file's
        /// time moves on with each write on both sides, so an old time must be equal; a
        /// directory's moves on locally when entries change and stays on the mount (documented).
        func matches(_ local: Node) -> Bool {
            guard path == local.path, kind == local.kind, mode == local.mode, bytes == local.bytes, owner == local.owner, xattrs == local.xattrs else {
                return false
            }
            let old = DifferentialMountTests.oldTimes
            switch kind {
            case .file: return (old.contains(mtime) || old.contains(local.mtime)) ? mtime == local.mtime : true
            case .directory: return old.contains(local.mtime) ? mtime == local.mtime : true
            case .symlink, .fifo, .socket, .characterDevice, .blockDevice: return true
            }
        }
    }

    static func same(_ a: [Node], _ model: [Node]) -> Bool {
        a.count == model.count && zip(a, model).allSatisfy { $0.matches($1) }
    }

    /// Every entry under `root`, sorted by path: kind, permission bits, file bytes or link target, mtime.
    static func tree(_ root: String) -> [Node] {
        var out: [Node] = []
        func walk(_ relative: String) {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: root + relative)) ?? []).sorted()
            for name in names {
                let path = relative + "/" + name
                var st = stat()
                guard lstat(root + path, &st) == 0 else { continue }
                let mode = UInt32(st.st_mode & 0o7777)
                let owner = "\(st.st_uid):\(st.st_gid)"
                let xattrs = userXattrText(root + path)
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    out.append(Node(path: path, kind: .directory, mode: mode, bytes: [], mtime: st.st_mtim.tv_sec, owner: owner, xattrs: xattrs))
                    walk(path)
                case S_IFLNK:
                    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: root + path)) ?? ""
                    out.append(Node(path: path, kind: .symlink, mode: 0, bytes: Array(target.utf8), mtime: st.st_mtim.tv_sec, owner: owner, xattrs: xattrs))
                case S_IFIFO:
                    out.append(Node(path: path, kind: .fifo, mode: mode, bytes: [], mtime: st.st_mtim.tv_sec, owner: owner, xattrs: xattrs))
                default:
                    let bytes = [UInt8](FileManager.default.contents(atPath: root + path) ?? Data())
                    out.append(Node(path: path, kind: .file, mode: mode, bytes: bytes, mtime: st.st_mtim.tv_sec, owner: owner, xattrs: xattrs))
                }
            }
        }
        walk("")
        return out
    }

    /// The session's tree as the service holds it, walked with `list` (the manifest names files only).
    static func tree(of session: String, in service: any AetherService) throws -> [Node] {
        var out: [Node] = []
        func walk(_ directory: String) throws {
            for e in try service.list(session, path: directory) {
                let path = (directory == "/" ? "" : directory) + "/" + e.name
                let seconds = Int(e.mtime / 1_000_000_000)
                // No recorded owner: the mounting user's, which is this process's.
                let owner = "\(e.uid ?? getuid()):\(e.gid ?? getgid())"
                let xattrs = try service.extendedAttributes(session, path: path).map { "\($0.key)=\($0.value.description)" }.sorted().joined(separator: ";")
                switch e.kind {
                case .directory:
                    out.append(Node(path: path, kind: .directory, mode: e.mode & 0o7777, bytes: [], mtime: seconds, owner: owner, xattrs: xattrs))
                    try walk(path)
                case .symlink:
                    let target = try service.stat(session, path: path).target ?? ""
                    out.append(Node(path: path, kind: .symlink, mode: 0, bytes: Array(target.utf8), mtime: seconds, owner: owner, xattrs: xattrs))
                case .file:
                    let bytes = try service.readFile(session, path: path, offset: 0, length: nil)
                    out.append(Node(path: path, kind: .file, mode: e.mode & 0o7777, bytes: bytes, mtime: seconds, owner: owner, xattrs: xattrs))
                case .fifo, .socket, .characterDevice, .blockDevice:
                    out.append(Node(path: path, kind: e.kind, mode: e.mode & 0o7777, bytes: [], mtime: seconds, owner: owner, xattrs: xattrs))
                }
            }
        }
        try walk("/")
        return out.sorted { $0.path < $1.path }
    }

    /// Runs `body` on a thread of its own whose file-system identity is `uid`:`gid`
    /// (`setfsuid`/`setfsgid` act on the calling thread only, and drop root's file capabilities
    /// while the ids are not 0), so the kernel checks permissions for that user on both trees;
    /// the mount learns the same ids from each request (`fuse_get_context`).
    static func asUser(_ uid: uid_t, _ gid: gid_t, _ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = setfsgid(gid)
            _ = setfsuid(uid)
            body()
            _ = setfsuid(0)
            _ = setfsgid(0)
            done.signal()
        }
        thread.start()
        done.wait()
    }

    /// The same random calls as another user (nobody, 65534) on a mount shared with
    /// `allow_other`: the session root is theirs, and a few entries made first by root (`d1`,
    /// `d1/f0`, `f2`) are not, so writes, removals, renames, chmod, chown, times and xattrs on
    /// those must fail exactly as ext4 fails them (EACCES or EPERM), and everything else succeed.
    @Test(arguments: Transport.allCases, [5, 6] as [UInt64])
    func randomOperationsAsAnotherUserMatchTheLocalDisk(_ transport: Transport, seed: UInt64) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let local = f.root + "/model"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let m = try f.mount(id, options: ["allow_other"], xattrs: true)
        let nobody: uid_t = 65534
        for root in [local, m.directory] {
            try f.sh("mkdir d1 && echo root > d1/f0 && echo root > f2 && chmod 644 d1/f0 f2 && chown \(nobody):\(nobody) .", in: root)
        }
        var g = SplitMix64(seed: seed)
        let operations = (0..<1000).map { _ in Self.randomOperation(&g) }
        // @unchecked: filled by the one thread `asUser` runs the body on, read after it has joined.
        final class Results: @unchecked Sendable { var expected: [String] = [], actual: [String] = [] }
        let results = Results()
        Self.asUser(nobody, nobody) {
            // Call by call, alternating sides, as the root test does.
            for op in operations {
                results.expected.append(Self.apply(op, under: local))
                results.actual.append(Self.apply(op, under: m.directory))
                if results.expected.last != results.actual.last { break }
            }
        }
        let (expected, actual) = (results.expected, results.actual)
        var succeeded: [String: Int] = [:]
        var denied = 0
        for (step, op) in operations.prefix(actual.count).enumerated() {
            try #require(actual[step] == expected[step], "seed \(seed) step \(step): \(op) gave \(actual[step]) on the mount, \(expected[step]) locally\n\(m.logText)")
            if actual[step].hasPrefix("ok") { succeeded[String(op.description.prefix { $0 != " " }), default: 0] += 1 }
            if actual[step] == "errno \(EACCES)" || actual[step] == "errno \(EPERM)" { denied += 1 }
        }
        print("seed \(seed) over \(transport) as uid \(nobody): \(succeeded.sorted { $0.key < $1.key }); \(denied) calls denied")
        // Both the permitted and the refused paths must be exercised.
        #expect(denied >= 20, "seed \(seed): only \(denied) calls were refused")
        for kind in ["write", "mkdir", "rename", "chmod", "mkfifo", "setxattr", "chown"] {
            #expect(succeeded[kind, default: 0] >= 2, "seed \(seed): only \(succeeded[kind, default: 0]) successful \(kind) calls: \(succeeded)")
        }
        let model = Self.tree(local)
        #expect(Self.same(Self.tree(m.directory), model), "seed \(seed): trees differ\nmount: \(Self.tree(m.directory))\nlocal: \(model)")
        #expect(try m.unmount() == 0)
    }

    @Test(arguments: Transport.allCases, [1, 2, 3, 4] as [UInt64])
    func randomOperationsMatchTheLocalDisk(_ transport: Transport, seed: UInt64) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let local = f.root + "/model"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let m = try f.mount(id, xattrs: true)
        var g = SplitMix64(seed: seed)
        let count = 1000
        var succeeded: [String: Int] = [:]
        for step in 0..<count {
            let op = Self.randomOperation(&g)
            let expected = Self.apply(op, under: local)
            let actual = Self.apply(op, under: m.directory)
            try #require(actual == expected, "seed \(seed) step \(step): \(op) gave \(actual) on the mount, \(expected) locally\n\(m.logText)")
            if actual.hasPrefix("ok") { succeeded[String(op.description.prefix { $0 != " " }), default: 0] += 1 }
        }
        // The sequence must reach the calls under test, not only their error paths.
        for kind in ["write", "mkdir", "rename", "chmod", "symlink", "utimens", "mkfifo", "chown", "setxattr"] {
            #expect(succeeded[kind, default: 0] >= 3, "seed \(seed): only \(succeeded[kind, default: 0]) successful \(kind) calls: \(succeeded)")
        }
        let model = Self.tree(local)
        let mounted = Self.tree(m.directory)
        let timed = model.filter { Self.oldTimes.contains($0.mtime) }.count
        print("seed \(seed) over \(transport): \(succeeded.sorted { $0.key < $1.key }); \(model.count) entries, \(timed) with a time set by utimens")
        #expect(Self.same(mounted, model), "seed \(seed): trees differ\nmount: \(mounted)\nlocal: \(model)")
        #expect(try m.unmount() == 0)

        let service: any AetherService
        switch transport {
        case .embedded: service = try AetherStore.open(at: f.root + "/store")
        case .remote, .clustered, .tls:
            service = try RemoteStore(
                endpoint: try #require(f.server).base, token: f.server?.adminToken, trust: TLSTrust(caCertificatePath: f.server?.caCertificate))
        }
        defer { try? service.close() }
        let stored = try Self.tree(of: id, in: service)
        #expect(Self.same(stored, model), "seed \(seed): the session differs from the local tree\nstored: \(stored)\nlocal: \(model)")
    }
}

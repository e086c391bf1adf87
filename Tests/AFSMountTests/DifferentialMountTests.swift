import AFSClient
import AFSCore
import Foundation
import Testing

/// The mount against the local disk as a model: the same random sequence of file-system calls on
/// both must give the same results (errno for errno) and the same trees, and after the unmount
/// the session must hold exactly the local tree.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"))
struct DifferentialMountTests {
    /// SplitMix64: a seeded generator, so a failing seed replays exactly.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

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
        case read(String)

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
            case .read(let p): "read \(p)"
            }
        }
    }

    static func randomPath(_ g: inout SeededGenerator) -> String {
        let names = ["d0", "d1", "f0", "f1", "f2"]
        return "/" + (0..<Int.random(in: 1...3, using: &g)).map { _ in names.randomElement(using: &g)! }.joined(separator: "/")
    }

    static func randomBytes(_ g: inout SeededGenerator) -> [UInt8] {
        let count = [0, 1, 100, 5000, 70_000].randomElement(using: &g)!
        let seed = UInt8.random(in: 0...255, using: &g)
        return (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    }

    static func randomOperation(_ g: inout SeededGenerator) -> Operation {
        let p = randomPath(&g)
        switch Int.random(in: 0..<12, using: &g) {
        case 0, 1: return .write(p, randomBytes(&g))
        case 2: return .append(p, randomBytes(&g))
        case 3: return .patch(p, offset: Int.random(in: 0...6000, using: &g), randomBytes(&g))
        case 4: return .truncate(p, [0, 10, 3000, 80_000].randomElement(using: &g)!)
        case 5, 6: return .mkdir(p)
        case 7: return .rmdir(p)
        case 8: return .unlink(p)
        case 9: return .rename(p, randomPath(&g))
        case 10: return .chmod(p, [0o600, 0o644, 0o755].randomElement(using: &g)!)
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
            let fd = open(root + p, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: nil)
        case .append(let p, let bytes):
            let fd = open(root + p, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: nil)
        case .patch(let p, let offset, let bytes):
            let fd = open(root + p, O_WRONLY)
            return fd < 0 ? "errno \(errno)" : writeAll(fd, bytes, at: offset)
        case .truncate(let p, let n): return result(truncate(root + p, off_t(n)))
        case .mkdir(let p): return result(mkdir(root + p, 0o755))
        case .rmdir(let p): return result(rmdir(root + p))
        case .unlink(let p): return result(unlink(root + p))
        case .rename(let a, let b): return result(rename(root + a, root + b))
        case .chmod(let p, let mode):
            // Directories keep their mode on the mount (documented); only files are compared.
            var st = stat()
            guard lstat(root + p, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return "skipped" }
            return result(chmod(root + p, mode))
        case .read(let p):
            guard let data = FileManager.default.contents(atPath: root + p) else { return "unreadable" }
            return "ok \(data.count) \(data.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })"
        }
    }

    struct Node: Equatable, CustomStringConvertible {
        var path: String
        var kind: EntryKind
        var mode: UInt32
        var bytes: [UInt8]
        var description: String { "\(path) \(kind) \(String(mode, radix: 8)) \(bytes.count)B" }
    }

    /// Every entry under `root`, sorted by path: kind, permission bits of files, file bytes.
    static func tree(_ root: String) -> [Node] {
        var out: [Node] = []
        func walk(_ relative: String) {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: root + relative)) ?? []).sorted()
            for name in names {
                let path = relative + "/" + name
                var st = stat()
                guard lstat(root + path, &st) == 0 else { continue }
                if st.st_mode & S_IFMT == S_IFDIR {
                    out.append(Node(path: path, kind: .directory, mode: 0, bytes: []))
                    walk(path)
                } else {
                    let bytes = [UInt8](FileManager.default.contents(atPath: root + path) ?? Data())
                    out.append(Node(path: path, kind: .file, mode: UInt32(st.st_mode & 0o7777), bytes: bytes))
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
                if e.kind == .directory {
                    out.append(Node(path: path, kind: .directory, mode: 0, bytes: []))
                    try walk(path)
                } else {
                    out.append(Node(path: path, kind: e.kind, mode: e.mode & 0o7777, bytes: try service.readFile(session, path: path, offset: 0, length: nil)))
                }
            }
        }
        try walk("/")
        return out.sorted { $0.path < $1.path }
    }

    @Test(arguments: Transport.allCases, [1, 2, 3] as [UInt64])
    func randomOperationsMatchTheLocalDisk(_ transport: Transport, seed: UInt64) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let local = f.root + "/model"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let m = try f.mount(id)
        var g = SeededGenerator(state: seed)
        let count = transport == .embedded ? 400 : 200
        for step in 0..<count {
            let op = Self.randomOperation(&g)
            let expected = Self.apply(op, under: local)
            let actual = Self.apply(op, under: m.directory)
            try #require(actual == expected, "seed \(seed) step \(step): \(op) gave \(actual) on the mount, \(expected) locally\n\(m.logText)")
        }
        let model = Self.tree(local)
        let mounted = Self.tree(m.directory)
        #expect(mounted == model, "seed \(seed): trees differ\nmount: \(mounted)\nlocal: \(model)")
        #expect(try m.unmount() == 0)

        let service: any AetherService
        switch transport {
        case .embedded: service = try AetherStore.open(at: f.root + "/store")
        case .remote: service = try RemoteStore(endpoint: try #require(f.server).base, token: f.server?.adminToken)
        }
        defer { try? service.close() }
        let stored = try Self.tree(of: id, in: service)
        #expect(stored == model, "seed \(seed): the session differs from the local tree\nstored: \(stored)\nlocal: \(model)")
    }
}

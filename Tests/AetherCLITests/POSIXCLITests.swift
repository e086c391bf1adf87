import AFSCore
import AFSTestSupport
import CSystemExtras
import Foundation
import Testing

/// `aether fs mknod`, `fs chown`, `fs xattr` and `session create --same-owner`, on both transports:
/// the special kinds, owners and extended attributes reach every client, not only the mount.
@Suite(.offCooperativePool) struct POSIXCLITests {
    @Test(arguments: Transport.allCases) func specialKindsOwnersAndXattrsThroughTheCLI(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let id = try #require(try cli.run(["session", "create", "--blank", "--json"]).object()["id"] as? String)
        #expect(try cli.run(["fs", "mkdir", id, "/run"]).status == 0)
        let sock = try cli.run(["fs", "mknod", id, "/run/app.sock", "socket", "--mode", "600", "--json"])
        #expect(sock.status == 0, "\(sock.stderr)")
        #expect(try sock.object()["kind"] as? String == "socket" && sock.object()["mode"] as? Int == 0o600)
        let null = try cli.run(["fs", "mknod", id, "/run/null", "char-device", "--major", "1", "--minor", "3", "--json"]).object()
        #expect(null["rdev"] as? Int == 259, "\(null)")
        let bad = try cli.run(["fs", "mknod", id, "/run/x", "pipe"])
        #expect(bad.status != 0 && bad.stderr.contains("fifo, socket, char-device or block-device"), "\(bad.stderr)")
        #expect(try cli.run(["fs", "ls", id, "/run"]).text.contains("app.sock="))

        #expect(try cli.run(["fs", "write", id, "/f"], stdin: Data("x".utf8)).status == 0)
        let chowned = try cli.run(["fs", "chown", id, "1000:100", "/f", "--json"]).object()
        #expect(chowned["uid"] as? Int == 1000 && chowned["gid"] as? Int == 100, "\(chowned)")
        #expect(try cli.run(["fs", "chown", id, "abc", "/f"]).status != 0)
        #expect(try cli.run(["fs", "stat", id, "/f"]).text.contains("owner:   1000:100"))

        #expect(try cli.run(["fs", "xattr", id, "/f", "--set", "user.mime=text/plain"]).status == 0)
        #expect(try cli.run(["fs", "xattr", id, "/f", "--get", "user.mime"]).text == "text/plain")
        let listed = try cli.run(["fs", "xattr", id, "/f", "--json"]).object()
        #expect(listed["xattrs"] as? [String: String] == ["user.mime": Data("text/plain".utf8).base64EncodedString()])
        let refused = try cli.run(["fs", "xattr", id, "/f", "--set", "security.x=1"])
        #expect(refused.status != 0 && refused.stderr.contains("user."), "\(refused.stderr)")
        #expect(try cli.run(["fs", "xattr", id, "/f", "--remove", "user.mime"]).status == 0)
        #expect(try cli.run(["fs", "xattr", id, "/f", "--get", "user.mime"]).status != 0)

        // A tree with a FIFO, owners and xattrs round-trips through export and import.
        #expect(try cli.run(["fs", "xattr", id, "/f", "--set", "user.k=v"]).status == 0)
        #expect(try cli.run(["fs", "mknod", id, "/run/fifo", "fifo"]).status == 0)
        let tar = cli.store + "-export.tar"
        defer { try? FileManager.default.removeItem(atPath: tar) }
        let export = try cli.run(["session", "export", id, "-o", tar])
        #expect(export.status == 0, "\(export.stderr)")
        for sameOwner in [false, true] {
            let imported = try cli.run(["session", "create", "--from-tar", tar, "--json"] + (sameOwner ? ["--same-owner"] : []))
            let copy = try #require(try imported.object()["id"] as? String, "\(imported.stderr)")
            let f = try cli.run(["fs", "stat", copy, "/f", "--json"]).object()
            #expect((f["uid"] as? Int) == (sameOwner ? 1000 : nil), "\(f)")
            #expect(f["xattrs"] as? [String] == ["user.k"])
            #expect(try cli.run(["fs", "stat", copy, "/run/fifo", "--json"]).object()["kind"] as? String == "fifo")
            #expect(try cli.run(["fs", "stat", copy, "/run/app.sock", "--json"]).object()["kind"] as? String == "socket")
            #expect(try cli.run(["fs", "stat", copy, "/run/null", "--json"]).object()["rdev"] as? Int == 259)
        }
    }
}

/// A host tree holding every kind a Linux work tree holds, and what survives of it.
///
/// Hard links, a FIFO, a Unix socket, character and block devices, set-id and sticky modes,
/// several owners, old modification times and binary `user.` xattrs go through every way in and
/// out of a session: import from a directory and from GNU tar, fork, checkpoint and restore,
/// commit and promote with a three-way merge, and export to tar. Each exported archive is
/// listed with GNU `tar --xattrs -tvv` against GNU tar's own archive of the original, and
/// extracted by GNU tar and compared with the original `lstat` for `lstat`.
@Suite(.offCooperativePool, .enabled(if: getuid() == 0, "device nodes and other owners need root"))
struct POSIXRoundTripTests {
    /// Builds the original tree under `root`.
    static func makeTree(_ root: String) throws {
        func check(_ rc: Int32, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            try #require(rc == 0, "\(what): errno \(errno)", sourceLocation: sourceLocation)
        }
        func file(_ path: String, _ bytes: [UInt8], mode: mode_t, owner: (uid_t, gid_t)) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: root + "/" + path))
            try check(chmod(root + "/" + path, mode), "chmod \(path)")
            try check(chown(root + "/" + path, owner.0, owner.1), "chown \(path)")
        }
        func xattr(_ path: String, _ name: String, _ value: [UInt8]) throws {
            try check(value.withUnsafeBytes { lsetxattr(root + "/" + path, name, $0.baseAddress, value.count, 0) }, "setxattr \(path) \(name)")
        }
        for (dir, mode) in [("bin", 0o755), ("dev", 0o755), ("docs", 0o755), ("empty", 0o700), ("run", 0o750), ("src", 0o750), ("tmp", 0o1777)] as [(String, mode_t)] {
            try check(mkdir(root + "/" + dir, mode), "mkdir \(dir)")
            try check(chmod(root + "/" + dir, mode), "chmod \(dir)")
        }
        try check(chown(root + "/src", 1000, 100), "chown src")
        try xattr("src", "user.role", Array("sources".utf8))
        try file("src/main.c", Array("int main(void) { return 0; }\n".utf8), mode: 0o644, owner: (1000, 100))
        try xattr("src/main.c", "user.mime", Array("text/x-c".utf8))
        try xattr("src/main.c", "user.bin", [0, 255, 1, 10])
        // Large enough to be stored as chunks, not inline.
        try file("bin/tool", (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }, mode: 0o4755, owner: (0, 0))
        try file("src/a.txt", Array("shared by two names\n".utf8), mode: 0o640, owner: (65534, 65534))
        try xattr("src/a.txt", "user.k", Array("v".utf8))
        try check(link(root + "/src/a.txt", root + "/docs/a-link.txt"), "link")
        try file("docs/readme", Array("read me\n".utf8), mode: 0o644, owner: (1000, 1000))
        try check(symlink("src/main.c", root + "/latest"), "symlink")
        try check(lchown(root + "/latest", 1000, 100), "lchown latest")
        try check(mkfifo(root + "/run/pipe", 0o620), "mkfifo")
        try check(chown(root + "/run/pipe", 1000, 100), "chown pipe")
        try check(mknod(root + "/dev/null", S_IFCHR | 0o666, dev_t(DeviceNumber.make(major: 1, minor: 3))), "mknod c")
        try check(chmod(root + "/dev/null", 0o666), "chmod null")
        try check(mknod(root + "/dev/loop9", S_IFBLK | 0o660, dev_t(DeviceNumber.make(major: 7, minor: 9))), "mknod b")
        try check(chown(root + "/dev/loop9", 0, 6), "chown loop9")
        // A Unix socket is made by binding one.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let socketPath = Array((root + "/run/app.sock").utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: socketPath.map { UInt8(bitPattern: $0) }) }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        try check(bound, "bind")
        try check(chmod(root + "/run/app.sock", 0o600), "chmod socket")
        // Old, distinct modification times; directories last (their entries moved them).
        var seconds = 1_000_000_000
        for path in ["src/main.c", "bin/tool", "src/a.txt", "docs/readme", "latest", "run/pipe", "run/app.sock", "dev/null", "dev/loop9",
                     "bin", "dev", "docs", "empty", "run", "src", "tmp"] {
            seconds += 3607
            let times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
            try check(utimensat(AT_FDCWD, root + "/" + path, times, AT_SYMLINK_NOFOLLOW), "utimens \(path)")
        }
    }

    /// One line per entry under `root` (sorted): kind, mode, owner, mtime, size, content digest or
    /// link target, device number, `user.` xattrs, and the entry's other hard-link names. A
    /// socket reads as a FIFO when `socketsAsFifos` (GNU tar extracts our socket entries so).
    static func describe(_ root: String, socketsAsFifos: Bool = false, ignoringTimesOf ignored: Set<String> = []) -> [String] {
        var inodes: [UInt64: [String]] = [:]
        var lines: [(String, UInt64, Int)] = []
        func walk(_ relative: String) {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + relative)) ?? []).sorted() {
                let path = (relative.isEmpty ? "" : relative + "/") + name
                let full = root + "/" + path
                var st = stat()
                guard lstat(full, &st) == 0 else { continue }
                var kind: String
                var content = ""
                switch st.st_mode & S_IFMT {
                case S_IFDIR: kind = "dir"
                case S_IFLNK: kind = "link"; content = (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "?"
                case S_IFIFO: kind = "fifo"
                case S_IFSOCK: kind = socketsAsFifos ? "fifo" : "socket"
                case S_IFCHR: kind = "chr \(st.st_rdev)"
                case S_IFBLK: kind = "blk \(st.st_rdev)"
                default:
                    kind = "file"
                    let data = FileManager.default.contents(atPath: full) ?? Data()
                    content = "\(data.count)B#\(data.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })"
                }
                let time = ignored.contains(path) ? "-" : String(st.st_mtim.tv_sec)
                let mode = String(st.st_mode & 0o7777, radix: 8)
                lines.append(("\(path) \(kind) \(kind == "link" ? "-" : mode) \(st.st_uid):\(st.st_gid) t=\(time) \(content) [\(userXattrText(full))]", UInt64(st.st_ino), Int(st.st_nlink)))
                if st.st_mode & S_IFMT != S_IFDIR, st.st_nlink > 1 { inodes[UInt64(st.st_ino), default: []].append(path) }
                if st.st_mode & S_IFMT == S_IFDIR { walk(path) }
            }
        }
        walk("")
        return lines.map { line, ino, _ in
            let names = inodes[ino] ?? []
            let path = String(line.prefix { $0 != " " })
            return names.count > 1 ? line + " links=\(names.filter { $0 != path })" : line
        }
    }

    /// `tar --xattrs -tvv` of an archive, names without `./`, the root entry left out.
    static func listing(_ archive: String, without excluded: Set<String> = []) throws -> [String] {
        let r = try ChildProcess.run("/usr/bin/env", ["tar", "--xattrs", "--xattrs-include=user.*", "--numeric-owner", "-tvvf", archive])
        try #require(r.status == 0, "tar -tvv \(archive): \(String(decoding: r.stderr, as: UTF8.self))")
        var out: [String] = []
        var skipping = false
        var xattrs: [String] = []
        // An entry's xattr lines follow it, in the order the file system listed them: sorted here.
        func flush() { out += xattrs.sorted(); xattrs = [] }
        for var line in String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map(String.init) {
            if line.hasPrefix("  x:") { if !skipping { xattrs.append(line) }; continue }
            flush()
            line = line.replacingOccurrences(of: " ./", with: " ")
            if line.hasSuffix("/") { line.removeLast() }
            // The name follows the date and time ("YYYY-MM-DD HH:MM NAME…").
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let name = fields.count > 5 ? String(fields[5]) : ""
            skipping = name.isEmpty || name == "." || excluded.contains(name)
            if !skipping { out.append(line) }
        }
        flush()
        return out
    }

    @Test(arguments: Transport.allCases) func everyKindOwnerModeTimeAndXattrSurvivesEveryRoundTrip(_ transport: Transport) throws {
        let cli = try CLI(transport)
        let work = "/var/tmp/afs-roundtrip-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        let original = work + "/original"
        try FileManager.default.createDirectory(atPath: original, withIntermediateDirectories: true)
        try Self.makeTree(original)
        let expected = Self.describe(original)
        #expect(expected.count == 17, "\(expected)")

        // GNU tar's archive of the original (it cannot archive the socket) and its listing.
        let gnuArchive = work + "/gnu.tar"
        let tar = try ChildProcess.run(
            "/usr/bin/env", ["tar", "--format=posix", "--xattrs", "--xattrs-include=user.*", "--numeric-owner", "--sort=name", "-C", original, "-cf", gnuArchive, "."])
        #expect(tar.status == 0 || String(decoding: tar.stderr, as: UTF8.self).contains("socket ignored"), "\(String(decoding: tar.stderr, as: UTF8.self))")
        let gnuListing = try Self.listing(gnuArchive)

        var step = 0
        /// Exports `session`, lists the archive against GNU tar's, extracts it with GNU tar and
        /// compares every entry with `expected`.
        func exportMatches(_ session: String, _ expected: [String], what: String, hasSocket: Bool = true, ignoringTimesOf ignored: Set<String> = [],
                           listing: [String]? = gnuListing, sourceLocation: SourceLocation = #_sourceLocation) throws {
            step += 1
            let archive = work + "/export-\(step).tar"
            let exported = try cli.run(["session", "export", session, "-o", archive])
            try #require(exported.status == 0, "\(what): export: \(exported.stderr)", sourceLocation: sourceLocation)
            if let listing {
                let got = try Self.listing(archive, without: ["run/app.sock"])
                #expect(got == listing, "\(what): tar -tvv differs\nexport: \(got)\nGNU:    \(listing)", sourceLocation: sourceLocation)
            }
            let out = work + "/extract-\(step)"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let x = try ChildProcess.run("/usr/bin/env", ["tar", "--xattrs", "--xattrs-include=user.*", "--numeric-owner", "--same-owner", "-xpf", archive, "-C", out])
            try #require(x.status == 0, "\(what): tar -x: \(String(decoding: x.stderr, as: UTF8.self))", sourceLocation: sourceLocation)
            var want = expected.map { $0.replacingOccurrences(of: "run/app.sock socket", with: "run/app.sock fifo") }
            if !hasSocket { want.removeAll { $0.hasPrefix("run/app.sock ") } }
            let got = Self.describe(out, socketsAsFifos: true, ignoringTimesOf: ignored)
            #expect(got == want, "\(what): extracted export differs\ngot:  \(got)\nwant: \(want)", sourceLocation: sourceLocation)
        }
        func id(_ r: CLI.Run, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            try #require(try r.object()["id"] as? String, "\(r.stderr)", sourceLocation: sourceLocation)
        }

        // In from a directory (sockets included) and from GNU tar's archive.
        let fromDir = try id(try cli.run(["session", "create", "--from-dir", original, "--same-owner", "--json"]))
        try exportMatches(fromDir, expected, what: "--from-dir")
        #expect(try cli.run(["fs", "stat", fromDir, "/run/app.sock", "--json"]).object()["kind"] as? String == "socket")
        let fromTar = try id(try cli.run(["session", "create", "--from-tar", gnuArchive, "--same-owner", "--json"]))
        try exportMatches(fromTar, expected, what: "--from-tar", hasSocket: false)

        // Fork; checkpoint, change everything, restore.
        let fork = try id(try cli.run(["session", "fork", fromDir, "--json"]))
        try exportMatches(fork, expected, what: "fork")
        let checkpoint = try id(try cli.run(["session", "checkpoint", fork, "--json"]))
        for args in [["fs", "rm", "-r", fork, "/src"], ["fs", "chown", fork, "5:5", "/dev/null"], ["fs", "xattr", fork, "/docs/readme", "--set", "user.x=1"],
                     ["fs", "rm", fork, "/run/app.sock"]] {
            #expect(try cli.run(args).status == 0, "\(args)")
        }
        #expect(try cli.run(["fs", "write", fork, "/docs/a-link.txt"], stdin: Data("changed".utf8)).status == 0)
        #expect(try cli.run(["session", "restore", fork, checkpoint]).status == 0)
        try exportMatches(fork, expected, what: "restore")

        // Commit the base to main; two forks change different entries; promote both (the
        // second one merges three ways).
        #expect(try cli.run(["session", "commit", fromDir, "-m", "base"]).status == 0)
        #expect(try cli.run(["session", "promote", fromDir, "--ref", "main", "--json"]).object()["outcome"] as? String == "created")
        let one = try id(try cli.run(["session", "fork", fromDir, "--json"]))
        let two = try id(try cli.run(["session", "fork", fromDir, "--json"]))
        #expect(try cli.run(["fs", "write", one, "/src/main.c"], stdin: Data("int main(void) { return 1; }\n".utf8)).status == 0)
        #expect(try cli.run(["fs", "mknod", one, "/run/new-pipe", "fifo", "--mode", "644"]).status == 0)
        #expect(try cli.run(["fs", "chown", two, "1234:1234", "/bin/tool"]).status == 0)
        #expect(try cli.run(["fs", "xattr", two, "/docs/readme", "--set", "user.reviewed=yes"]).status == 0)
        for s in [one, two] { #expect(try cli.run(["session", "commit", s, "-m", "change"]).status == 0) }
        #expect(try cli.run(["session", "promote", one, "--ref", "main", "--json"]).object()["outcome"] as? String == "fast-forward")
        let merge = try cli.run(["session", "promote", two, "--ref", "main", "--json"]).object()
        #expect(merge["outcome"] as? String == "merged", "\(merge)")
        let merged = try id(try cli.run(["session", "create", "--from-commit", try #require(merge["commitID"] as? String ?? merge["commit_id"] as? String, "\(merge)"), "--json"]))

        // The same changes on a copy of the original, by the kernel, are what the merge must give.
        let model = work + "/model"
        #expect(try ChildProcess.run("/bin/cp", ["-a", original, model]).status == 0)
        try Data("int main(void) { return 1; }\n".utf8).write(to: URL(fileURLWithPath: model + "/src/main.c"))
        #expect(mkfifo(model + "/run/new-pipe", 0o644) == 0 && chmod(model + "/run/new-pipe", 0o644) == 0)
        #expect(chown(model + "/bin/tool", 1234, 1234) == 0)
        #expect(lsetxattr(model + "/docs/readme", "user.reviewed", "yes", 3, 0) == 0)
        let changed: Set<String> = ["src/main.c", "run", "run/new-pipe"]
        // Sockets are bound, not copied: cp -a made the model's a socket too.
        try exportMatches(merged, Self.describe(model, ignoringTimesOf: changed), what: "merge", ignoringTimesOf: changed, listing: nil)
    }
}

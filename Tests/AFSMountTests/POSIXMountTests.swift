import AFSClient
import AFSCore
import AFSTestSupport
import Foundation
import Testing

/// FIFOs, sockets, device nodes, owners, permission checks and extended attributes through a real
/// mount, on both transports: what tools that are not git (pnpm, ssh-agent, language servers,
/// `tar --xattrs`, a second user of a shared mount) meet.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"), .offCooperativePool)
struct POSIXMountTests {
    static let isRoot = getuid() == 0
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(arguments: Transport.allCases) func specialFilesAndXattrsWorkAndPersist(_ transport: Transport) throws {
        let python = try #require(Self.python, "python3 is needed to bind a socket and set xattrs")
        let f = try MountFixture(transport)
        let id = try f.createSession()
        var m = try f.mount(id, xattrs: true)
        let d = m.directory
        try f.sh("""
            mkfifo pipe
            chmod 640 pipe
            # A FIFO on the mount carries data between two processes, through the kernel.
            ( echo through-the-fifo > pipe & )
            test "$(cat pipe)" = through-the-fifo
            \(python) -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind("sock"); s.listen(1)'
            echo hello > f.txt
            \(python) -c 'import os; os.setxattr("f.txt", "user.mime", b"text/plain"); os.setxattr(".", "user.dir", b"\\x00\\x01")'
            """, in: d)
        if Self.isRoot {
            try f.sh("mknod null c 1 3 && mknod disk b 8 17 && chmod 600 disk", in: d)
        }
        func check(_ when: String) throws {
            let d = m.directory
            let kinds = try f.sh("stat -c '%n %F %a' pipe sock f.txt" + (Self.isRoot ? " null disk" : ""), in: d)
            #expect(kinds.contains("pipe fifo 640"), "\(when): \(kinds)")
            #expect(kinds.contains("sock socket"), "\(when): \(kinds)")
            if Self.isRoot {
                #expect(kinds.contains("null character special file"), "\(when): \(kinds)")
                #expect(kinds.contains("disk block special file 600"), "\(when): \(kinds)")
                #expect(try f.sh("stat -c '%t,%T' null disk", in: d) == "1,3\n8,11\n", "\(when): major,minor in hex")
                // nodev: the mount never opens a device through its node.
                #expect(try f.run("/bin/sh", ["-c", "head -c1 null"], in: d).status != 0, "\(when)")
            }
            let xattrs = try f.sh("\(python) -c 'import os; print(os.getxattr(\"f.txt\", \"user.mime\"), os.listxattr(\"f.txt\"), os.getxattr(\".\", \"user.dir\"))'", in: d)
            #expect(xattrs == "b'text/plain' ['user.mime'] b'\\x00\\x01'\n", "\(when): \(xattrs)")
            // Other namespaces: nothing stored, a clear refusal to store.
            let refused = try f.run(python, ["-c", "import os\ntry:\n os.setxattr('f.txt', 'trusted.x', b'1')\nexcept OSError as e: print(e.errno)"], in: d)
            #expect(refused.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(EOPNOTSUPP)" || refused.output.contains("\(EPERM)"), "\(when): \(refused.output)")
            let absent = try f.run(python, ["-c", "import os\ntry:\n os.getxattr('f.txt', 'user.none')\nexcept OSError as e: print(e.errno)"], in: d)
            #expect(absent.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(ENODATA)", "\(when): \(absent.output)")
        }
        try check("mounted")
        #expect(try m.unmount() == 0)
        // The session holds them; a new mount shows them again.
        let stat = try f.json(["fs", "stat", id, "/sock"])
        #expect(stat["kind"] as? String == "socket")
        m = try f.mount(id, xattrs: true)
        try check("after a remount")
        // tar --xattrs carries the attribute out of the mount.
        let listing = try f.sh("tar --xattrs -cf - f.txt | tar --xattrs -tvvf -", in: m.directory)
        #expect(listing.contains("user.mime"), "\(listing)")
        try f.sh("\(python) -c 'import os; os.removexattr(\"f.txt\", \"user.mime\")' && rm pipe sock", in: m.directory)
        #expect(try f.sh("ls", in: m.directory).split(separator: "\n").sorted() == (Self.isRoot ? ["disk", "f.txt", "null"] : ["f.txt"]))
        #expect(try m.unmount() == 0)
    }

    /// Calls of one FUSE operation the mount has served so far.
    static func calls(_ f: MountFixture, _ m: MountedSession, _ operation: String) throws -> Int {
        let operations = try f.json(["metrics", "show", m.directory])["operations"] as? [String: [String: Any]] ?? [:]
        return operations[operation]?["count"] as? Int ?? 0
    }

    /// Once the kernel closes files without a word (no `flush`, no `release`), what a program
    /// wrote still reaches the service and the changefeed by itself, a moment after its last
    /// write (``SessionFilesystem/implicitIdle``): a file created and closed, an existing file
    /// appended to, and a file another program keeps reading (reads do not hold it back).
    @Test func writesOfFilesClosedUnseenArePublishedByThemselves() throws {
        let python = try #require(Self.python, "python3 is needed")
        let f = try MountFixture(.remote)
        let id = try f.createSession()
        #expect(try f.cli(["fs", "write", id, "/kept.txt"], stdin: Data("kept\n".utf8)).status == 0)
        let m = try f.mount(id)
        /// Polls the service (not the mount) until `path` holds `expected`.
        func published(_ path: String, _ expected: String) throws -> Bool {
            let deadline = Date().addingTimeInterval(10)
            repeat {
                if try f.cli(["fs", "cat", id, path]).output == expected { return true }
                Thread.sleep(forTimeInterval: 0.05)
            } while Date() < deadline
            return false
        }
        try f.sh("cat kept.txt > /dev/null && echo new > new.txt && echo more >> kept.txt", in: m.directory)
        let flushes = try Self.calls(f, m, "flush")
        #expect(try published("/new.txt", "new\n"))
        #expect(try published("/kept.txt", "kept\nmore\n"))
        // Written through a descriptor held open while another program reads the file in a loop.
        let script = "import os, time\nfd = os.open('kept.txt', os.O_WRONLY | os.O_APPEND)\nos.write(fd, b'held\\n')\ntime.sleep(3)\nos.close(fd)"
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: python)
        writer.arguments = ["-c", script]
        writer.currentDirectoryURL = URL(fileURLWithPath: m.directory)
        try writer.run()
        defer { if writer.isRunning { writer.terminate() } }
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do cat kept.txt > /dev/null; done"]
        reader.currentDirectoryURL = URL(fileURLWithPath: m.directory)
        try reader.run()
        defer { if reader.isRunning { reader.terminate() } }
        #expect(try published("/kept.txt", "kept\nmore\nheld\n"), "published while still open and being read")
        #expect(writer.isRunning, "the writer still holds it open")
        writer.waitUntilExit()
        reader.waitUntilExit()
        #expect(try Self.calls(f, m, "flush") == flushes, "the kernel sends no flush once answered ENOSYS")
        #expect(try m.unmount() == 0)
    }

    /// With write-back the kernel opens files itself (`FUSE_CAP_NO_OPEN_SUPPORT`) and, once the
    /// first `flush` is answered `ENOSYS`, closes them without a word: a warm read costs the mount
    /// no request at all. What programs see must
    /// not change: `O_TRUNC`, writes through an open of an existing file, a file read after its
    /// removal through a descriptor opened before, a file created and written, an API change
    /// while the kernel holds the file. `--sync-close` keeps the strict opens.
    @Test(arguments: [Transport.embedded, .remote]) func filesOpenedByTheKernelBehaveAsOpenedByTheMount(_ transport: Transport) throws {
        let python = try #require(Self.python, "python3 is needed")
        let f = try MountFixture(transport)
        let id = try f.createSession()
        var m = try f.mount(id)
        try f.sh("printf 'first version\\n' > a.txt && cat a.txt > /dev/null", in: m.directory)
        try m.sync()
        // The publication dropped the kernel's pages (its times are the service's now): one
        // read fills them again, and marks the attributes stale (the access time may have
        // moved), which the next `fstat` refreshes.
        for _ in 0..<2 { #expect(try f.sh("cat a.txt", in: m.directory) == "first version\n") }
        let (opens, reads, flushes) = (try Self.calls(f, m, "open"), try Self.calls(f, m, "read"), try Self.calls(f, m, "flush"))
        #expect(opens <= 1, "only the first open reaches the mount (answered ENOSYS): \(opens)")
        for _ in 0..<10 { #expect(try f.sh("cat a.txt", in: m.directory) == "first version\n") }
        #expect(try Self.calls(f, m, "open") == opens, "warm opens are the kernel's")
        #expect(try Self.calls(f, m, "read") == reads, "warm reads come from the page cache")
        #expect(flushes >= 1, "the first close's flush reached the mount (answered ENOSYS)")
        #expect(try Self.calls(f, m, "flush") == flushes, "no close reaches it after that")

        // O_TRUNC of an existing file arrives as a truncating setattr; `>>` and `r+` write
        // through opens the mount never saw.
        try f.sh("printf 'long old content\\n' > b.txt && printf 'x\\n' > b.txt && printf 'y\\n' >> b.txt", in: m.directory)
        #expect(try f.sh("cat b.txt", in: m.directory) == "x\ny\n")
        _ = try f.sh("\(python) -c \"f = open('a.txt', 'r+'); f.seek(0); f.write('FIRST'); f.close()\"", in: m.directory)
        #expect(try f.sh("cat a.txt", in: m.directory) == "FIRST version\n")
        // Read after unlink, through a descriptor opened (by the kernel) before it.
        let script = "import os; fd = os.open('a.txt', os.O_RDONLY); os.unlink('a.txt'); print(os.read(fd, 100).decode(), end=''); os.close(fd)"
        #expect(try f.sh("\(python) -c \"\(script)\"", in: m.directory) == "FIRST version\n")
        #expect(!FileManager.default.fileExists(atPath: m.directory + "/a.txt"))
        try m.sync()
        func checkService() throws {
            #expect(try f.cli(["fs", "cat", id, "/b.txt"]).output == "x\ny\n")
            #expect(try f.cli(["fs", "stat", id, "/a.txt"]).status == 3, "the removal reached the service")
        }
        // An embedded mount holds the store: the service is asked after the unmount.
        if transport == .embedded {
            #expect(try m.unmount() == 0)
            try checkService()
            m = try f.mount(id, flags: ["--sync-close"])
            let strictOpens = try Self.calls(f, m, "open")
            for _ in 0..<3 { _ = try f.sh("cat b.txt", in: m.directory) }
            #expect(try Self.calls(f, m, "open") >= strictOpens + 3, "strict: every open reaches the mount")
            #expect(try m.unmount() == 0)
            return
        }
        try checkService()

        // Another client replaces the file while a program holds it open: size and bytes follow
        // within the changefeed's window, through the same descriptor.
        let holder = try #require(FileHandle(forReadingAtPath: m.directory + "/b.txt"))
        #expect(String(decoding: holder.readDataToEndOfFile(), as: UTF8.self) == "x\ny\n")
        #expect(try f.cli(["fs", "write", id, "/b.txt"], stdin: Data("from the api, longer\n".utf8)).status == 0)
        let deadline = Date().addingTimeInterval(10)
        var seen = ""
        repeat {
            try holder.seek(toOffset: 0)
            seen = String(decoding: holder.readDataToEndOfFile(), as: UTF8.self)
            if seen == "from the api, longer\n" { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        #expect(seen == "from the api, longer\n")
        #expect(try f.sh("stat -c %s b.txt", in: m.directory) == "21\n")
        try holder.close()
        #expect(try m.unmount() == 0)

        m = try f.mount(id, flags: ["--sync-close"])
        let strictOpens = try Self.calls(f, m, "open")
        for _ in 0..<3 { _ = try f.sh("cat b.txt", in: m.directory) }
        #expect(try Self.calls(f, m, "open") >= strictOpens + 3, "strict: every open reaches the mount")
        #expect(try m.unmount() == 0)
    }

    /// Access time (ns) and change time of a path on the mount.
    static func times(_ path: String) -> (atime: Int64, ctime: Int64) {
        var st = stat()
        guard stat(path, &st) == 0 else { return (-1, -1) }
        return (Int64(st.st_atim.tv_sec) * 1_000_000_000 + Int64(st.st_atim.tv_nsec), Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }

    /// Reads `path` as `cat` does (open for reading, read to the end).
    static func read(_ path: String) { _ = FileManager.default.contents(atPath: path) }

    /// The access time of `path` once it differs from `old`, waiting out the kernel's attribute
    /// timeout (1 s) with room for a loaded machine; `old` itself if it never moves.
    static func accessTime(_ path: String, movedFrom old: Int64) -> Int64 {
        let deadline = Date().addingTimeInterval(6)
        while Date() < deadline {
            let now = times(path).atime
            if now != old { return now }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return old
    }

    /// `relatime`, as Linux mounts default to: a read moves the access time when it is not after
    /// the last change, or is a day old, and not otherwise; reads move no change time; the times
    /// reach the session (batched) and survive the unmount. `-o noatime` records none.
    @Test(arguments: Transport.allCases) func readsMoveAccessTimesPerRelatime(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        var m = try f.mount(id)
        let file = m.directory + "/notes.txt"
        try f.sh("echo one > notes.txt", in: m.directory)
        // Published (its change time is then the service's: the time the file reached it).
        try m.sync()
        // Created: its access time is its creation's, not after its modification.
        let created = Self.times(file)
        Self.read(file)
        let first = Self.accessTime(file, movedFrom: created.atime)
        #expect(first > created.atime, "a read after a change moves the access time")
        #expect(Self.times(file).ctime == created.ctime, "a read is not a change")
        // Read again: the access time is after the last change now, so it stays.
        Self.read(file)
        Thread.sleep(forTimeInterval: 1.2)
        #expect(Self.times(file).atime == first, "relatime: a second read moves nothing")
        // Changed, then read: moves again.
        try f.sh("echo two >> notes.txt", in: m.directory)
        Self.read(file)
        let second = Self.accessTime(file, movedFrom: first)
        #expect(second > first)
        // An access time two days old moves on the next read even without a change.
        let twoDaysAgo = Int(Date().timeIntervalSince1970) - 2 * 86_400
        try f.sh("touch -a -d @\(twoDaysAgo) notes.txt && touch -m -d @\(twoDaysAgo - 10) notes.txt", in: m.directory)
        Thread.sleep(forTimeInterval: 1.2)
        let old = Self.times(file).atime
        #expect(old / 1_000_000_000 == Int64(twoDaysAgo))
        Self.read(file)
        let third = Self.accessTime(file, movedFrom: old)
        #expect(third > Int64(Date().timeIntervalSince1970 - 60) * 1_000_000_000, "a day-old access time moves")
        #expect(try m.unmount() == 0)

        // The session holds the last access time shown (the unmount sent the last batch).
        let stored = try f.json(["fs", "stat", id, "/notes.txt"])
        #expect((stored["atime"] as? NSNumber)?.int64Value == third, "\(stored)")

        // noatime: reads record nothing.
        m = try f.mount(id, options: ["noatime"])
        let before = Self.times(m.directory + "/notes.txt").atime
        try f.sh("echo three >> notes.txt", in: m.directory)
        Self.read(m.directory + "/notes.txt")
        Thread.sleep(forTimeInterval: 1.2)
        #expect(Self.times(m.directory + "/notes.txt").atime == before)
        #expect(try m.unmount() == 0)
    }

    @Test(arguments: Transport.allCases) func hardLinksAreOneFileUnderSeveralNames(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        var m = try f.mount(id)
        try f.sh("""
            mkdir -p pkg/lib && echo v1 > pkg/lib/index.js && echo doc > pkg/README
            ln pkg/lib/index.js alias.js
            # What pnpm and rsync --link-dest do: a tree of hard links.
            cp -al pkg store-copy
            test "$(stat -c %h pkg/lib/index.js)" = 3
            test "$(stat -c %i pkg/lib/index.js)" = "$(stat -c %i alias.js)"
            test "$(stat -c %i pkg/lib/index.js)" = "$(stat -c %i store-copy/lib/index.js)"
            # A write through one name is seen through every name at once.
            echo v2 >> alias.js
            test "$(cat store-copy/lib/index.js)" = "$(printf 'v1\nv2')"
            chmod 600 store-copy/lib/index.js
            test "$(stat -c %a pkg/lib/index.js)" = 600
            rm pkg/lib/index.js
            test "$(stat -c %h alias.js)" = 2
            test "$(cat alias.js)" = "$(printf 'v1\nv2')"
            """, in: m.directory)
        #expect(try m.unmount() == 0)
        #expect(try f.json(["fs", "stat", id, "/alias.js"])["nlink"] as? Int == 2)
        m = try f.mount(id)
        #expect(try f.sh("stat -c %h store-copy/lib/index.js && cat store-copy/README", in: m.directory) == "2\ndoc\n")
        // tar keeps them as links.
        #expect(try f.sh("tar -cf - alias.js store-copy | tar -tvf - | grep -c 'link to'", in: m.directory) == "1\n")
        #expect(try m.unmount() == 0)
    }

    @Test(arguments: Transport.allCases) func withoutTheXattrsFlagTheKernelIsToldNoXattrs(_ transport: Transport) throws {
        let python = try #require(Self.python)
        let f = try MountFixture(transport)
        let m = try f.mount(try f.createSession())
        let r = try f.run(python, ["-c", "import os\nopen('f', 'w').write('x')\ntry:\n os.setxattr('f', 'user.a', b'1')\nexcept OSError as e: print(e.errno)"], in: m.directory)
        #expect(r.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(EOPNOTSUPP)", "\(r.output)")
        // Writes cost no xattr round trips.
        try f.sh("dd if=/dev/zero of=g bs=4k count=50 2>/dev/null", in: m.directory)
        let metrics = try f.json(["metrics", "show", m.directory])
        #expect((metrics["operations"] as? [String: Any])?["getxattr"] == nil, "\(metrics)")
        #expect(try m.unmount() == 0)
    }

    @Test(.enabled(if: isRoot, "needs root: changes owners and acts as another user"), arguments: Transport.allCases)
    func ownersAndPermissionsForASharedMount(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let m = try f.mount(id, options: ["allow_other"])
        let d = m.directory
        let nobody = "setpriv --reuid 65534 --regid 65534 --clear-groups --"
        try f.sh("""
            mkdir shared private
            chmod 1777 shared
            chmod 700 private
            echo root > owned
            chmod 4755 owned
            chown 1234:5678 owned
            """, in: d)
        // chown by root records the ids; the kernel clears set-uid on chown, as on ext4.
        #expect(try f.sh("stat -c '%u:%g %a' owned", in: d) == "1234:5678 755\n")
        // Another user creates in a world-writable directory: it owns what it made.
        try f.sh("\(nobody) sh -c 'echo mine > shared/n.txt && mkdir shared/nd && mkfifo shared/np && ln -s n.txt shared/nl'", in: d)
        #expect(try f.sh("stat -c '%n %u:%g' shared/n.txt shared/nd shared/np", in: d) == "shared/n.txt 65534:65534\nshared/nd 65534:65534\nshared/np 65534:65534\n")
        #expect(try f.sh("stat -c '%u' shared/nl", in: d) == "65534\n")
        // …and is refused where it may not go, as on a local disk.
        for command in ["ls private", "touch private/x", "touch new-at-root", "chmod 777 owned", "chown 65534 owned", "rm -f shared/../owned"] {
            let r = try f.run("/bin/sh", ["-c", "\(nobody) \(command)"], in: d)
            #expect(r.status != 0, "\(command) as nobody should fail: \(r.output)")
            #expect(r.output.contains("Permission denied") || r.output.contains("Operation not permitted"), "\(command): \(r.output)")
        }
        // The sticky directory protects another user's file from nobody, and nobody's from root's rules.
        try f.sh("echo root-file > shared/r.txt", in: d)
        #expect(try f.run("/bin/sh", ["-c", "\(nobody) rm -f shared/r.txt"], in: d).status != 0)
        #expect(try m.unmount() == 0)
        // The owners are in the session, not only in the mount.
        let service: [String: Any] = try f.json(["fs", "stat", id, "/shared/n.txt"])
        #expect(service["uid"] as? Int == 65534 && service["gid"] as? Int == 65534, "\(service)")
        #expect(try f.json(["fs", "stat", id, "/owned"])["uid"] as? Int == 1234)
    }
}

import Foundation
import AFSTestSupport
import Testing

/// Real programs on a real FUSE mount of a session, over both transports; what they wrote is then
/// read back through the service after the unmount.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"), .offCooperativePool)
struct MountTests {
    @Test(arguments: Transport.withTLS) func shellToolsReadWriteMoveAndRemove(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        #expect(try f.cli(["fs", "write", id, "/seed/readme.txt"], stdin: Data("from the API\n".utf8)).status == 0)
        let m = try f.mount(id)
        let out = try f.sh(
            """
            cat seed/readme.txt
            echo one > a.txt
            echo two >> a.txt
            mkdir -p docs/deep
            mv a.txt docs/deep/a.txt
            seq 1 200000 > docs/numbers.txt
            cp docs/numbers.txt copy.txt
            cmp docs/numbers.txt copy.txt
            rm copy.txt
            touch empty
            mkdir gone && rmdir gone
            if rmdir docs 2>/dev/null; then echo "rmdir of a non-empty directory succeeded"; exit 1; fi
            chmod 755 docs/numbers.txt
            test -x docs/numbers.txt
            printf 'abcdef' > t.txt && truncate -s 3 t.txt
            ls -1
            wc -l < docs/numbers.txt
            """, in: m.directory)
        #expect(out == "from the API\ndocs\nempty\nseed\nt.txt\n200000\n")
        #expect(try m.unmount() == 0)
        #expect(try f.cat(id, "/docs/deep/a.txt") == "one\ntwo\n")
        #expect(try f.cat(id, "/t.txt") == "abc")
        #expect(try f.cat(id, "/docs/numbers.txt").hasSuffix("199999\n200000\n"))
        let stat = try f.cli(["fs", "stat", id, "/docs/numbers.txt", "--json"]).output
        #expect(stat.contains("\"mode\" : 493"), "chmod 755 did not reach the store: \(stat)")
        #expect(try f.cli(["fs", "stat", id, "/copy.txt"]).status == 3)
        #expect(try f.cli(["fs", "stat", id, "/empty"]).status == 0)
    }

    @Test(arguments: Transport.allCases) func symlinksDirectoryModesAndTimesSurviveCopyAndTar(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        // A local tree with what `cp -a` and `tar x` must carry: links (one dangling), a 0700
        // directory, a 0600 file, an executable, and old times on every entry, links included.
        let source = f.root + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try f.sh(
            """
            mkdir -p pkg/bin pkg/private
            printf '#!/bin/sh\\necho run\\n' > pkg/bin/tool && chmod 755 pkg/bin/tool
            echo secret > pkg/private/key && chmod 600 pkg/private/key && chmod 700 pkg/private
            ln -s bin/tool pkg/current
            ln -s ../nowhere pkg/dangling
            touch -h -d '2001-02-03 04:05:06.123456789 UTC' pkg/bin/tool pkg/private/key pkg/current pkg/dangling pkg/bin pkg/private pkg
            tar --format=posix -cf ../pkg.tar pkg
            """, in: source)
        let listing = "find . -printf '%P %y %m %T@ %l\\n' | LC_ALL=C sort"
        let expected = try f.sh("cd pkg && \(listing)", in: source)
        let m = try f.mount(id)
        try f.sh("cp -a \(source)/pkg copied && mkdir extracted && tar -xf \(f.root)/pkg.tar -C extracted", in: m.directory)
        #expect(try f.sh("cd copied && \(listing)", in: m.directory) == expected)
        #expect(try f.sh("cd extracted/pkg && \(listing)", in: m.directory) == expected)
        let out = try f.sh(
            """
            readlink copied/current
            ./copied/current
            chmod 750 copied/bin && stat -c %a copied/bin
            touch -d '2002-01-01 00:00:00 UTC' copied/bin && stat -c %Y copied/bin
            touch copied/private/key && test "$(stat -c %Y copied/private/key)" -gt 1600000000
            ln -s bin/tool copied/second && readlink copied/second && rm copied/second && test ! -L copied/second
            ln copied/bin/tool hard && stat -c %h hard && rm hard && stat -c %h copied/bin/tool
            if ln -s x copied/current 2>/dev/null; then echo "replaced an existing name"; exit 1; fi
            """, in: m.directory)
        #expect(out == "bin/tool\nrun\n750\n1009843200\nbin/tool\n2\n1\n")
        #expect(try m.unmount() == 0)
        // What the mount set is what the session holds.
        func stat(_ path: String) throws -> [String: Any] {
            let r = try f.cli(["fs", "stat", id, path, "--json"])
            return try #require(try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], "\(r.output)")
        }
        #expect(try stat("/copied/private")["mode"] as? Int == 0o700)
        #expect(try stat("/copied/bin")["mode"] as? Int == 0o750)
        #expect(try stat("/copied/bin")["mtime"] as? Int == 1_009_843_200_000_000_000)
        #expect(try stat("/copied/current")["target"] as? String == "bin/tool")
        #expect(try stat("/copied/dangling")["kind"] as? String == "symlink")
        #expect(try stat("/extracted/pkg/bin/tool")["mtime"] as? Int == 981_173_106_123_456_789)
        #expect(try stat("/extracted/pkg/private/key")["mode"] as? Int == 0o600)
    }

    /// An npm-shaped tree (3,000 files of 100–2,000 bytes in nested node_modules directories): the
    /// case where per-file costs, not bandwidth, decide. Copied on with `cp -a`, counted, sized
    /// and read back byte for byte; then exported from the session and compared again.
    @Test(arguments: Transport.allCases) func manySmallFilesLikeNodeModules(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let local = f.root + "/local"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let generator = """
            import os, random, sys
            root, r, count, p = sys.argv[1], random.Random(7), 0, 0
            files = ["package.json", "index.js", "README.md", "LICENSE", "lib/index.js", "lib/util.js", "lib/util/strings.js",
                     "lib/util/arrays.js", "dist/bundle.js", "dist/bundle.min.js", "types/index.d.ts", "test/basic.test.js"]
            while count < 3000:
                base = f"node_modules/pkg-{p}" if p % 4 != 1 else f"node_modules/pkg-{p - 1}/node_modules/dep-{p}"
                for rel in files[: 3000 - count]:
                    path = os.path.join(root, base, rel)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as out:
                        out.write(r.randbytes(r.randint(100, 2000)))
                    count += 1
                p += 1
            """
        try generator.write(toFile: f.root + "/gen.py", atomically: true, encoding: .utf8)
        try f.sh("python3 \(f.root)/gen.py .", in: local)
        let checksums = "cd node_modules && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"
        let summary = "find node_modules -type f | wc -l; find node_modules | wc -l; find node_modules -type f -printf '%s\\n' | awk '{s+=$1} END {print s}'"
        let expected = try f.sh("\(summary); \(checksums)", in: local)
        let m = try f.mount(id)
        let (_, copy) = try measured { try f.sh("cp -a \(local)/node_modules .", in: m.directory) }
        // The kernel opens files itself (write-back): after the first `create` answered ENOSYS it
        // makes every new file with `mknod` and sends no `release` at its close.
        let operations = try f.json(["metrics", "show", m.directory])["operations"] as? [String: [String: Any]] ?? [:]
        func count(_ op: String, _ field: String = "count") -> Int { (operations[op]?[field] as? Int) ?? 0 }
        #expect(count("create") == 1 && count("create", "errors") == 1, "\(operations["create"] ?? [:])")
        #expect(count("mknod") == 3000, "one mknod per new file: \(count("mknod"))")
        #expect(count("release") == 0, "no release for files the kernel opened: \(count("release"))")
        let (listed, walk) = try measured { try f.sh("\(summary); \(checksums)", in: m.directory) }
        #expect(listed == expected)
        #expect(listed.hasPrefix("3000\n"))
        // du: the mount reports each file's own size (directories count 0).
        let du = try f.sh("du -s --apparent-size -B1 node_modules | cut -f1", in: m.directory)
        #expect(du == expected.split(separator: "\n")[2] + "\n", "du \(du) vs \(expected)")
        #expect(try m.unmount() == 0)
        let exported = f.root + "/exported"
        try FileManager.default.createDirectory(atPath: exported, withIntermediateDirectories: true)
        #expect(try f.cli(["session", "export", id, "-o", f.root + "/export.tar"]).status == 0)
        try f.sh("tar -xf \(f.root)/export.tar", in: exported)
        #expect(try f.sh("\(summary); \(checksums)", in: exported) == expected)
        print("node_modules-like tree over \(transport): cp -a of 3000 files \(copy), find+wc+size+sha256 read-back \(walk)")
    }

    @Test(arguments: Transport.allCases) func gitCloneCommitAndStatus(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        // A source repository on local disk to clone from.
        let origin = f.root + "/origin"
        try FileManager.default.createDirectory(atPath: origin, withIntermediateDirectories: true)
        try f.sh(
            """
            git init -q -b main .
            git config user.email o@example.com && git config user.name origin
            mkdir -p src && for i in $(seq 1 40); do echo "file $i" > src/f$i.txt; done
            printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod +x run.sh
            git add -A && git commit -qm base
            """, in: origin)
        let m = try f.mount(id)
        let out = try f.sh(
            """
            git clone -q \(origin) clone
            cd clone
            git config user.email agent@example.com && git config user.name agent
            test -z "$(git status --porcelain)"
            ./run.sh
            echo changed >> src/f1.txt
            echo new > src/new.txt
            git status --porcelain
            git add -A && git commit -qm change
            test -z "$(git status --porcelain)"
            git log --oneline | wc -l
            git fsck --no-dangling >/dev/null 2>&1
            cd .. && mkdir fresh && cd fresh && git init -q . && echo x > x && git add x
            git -c user.email=a@b -c user.name=a commit -qm one && git status --short && git rev-list --count HEAD
            """, in: m.directory)
        #expect(out == "hi\n M src/f1.txt\n?? src/new.txt\n2\n1\n")
        #expect(try m.unmount() == 0)
        #expect(try f.cat(id, "/clone/src/f1.txt") == "file 1\nchanged\n")
        #expect(try f.cat(id, "/clone/.git/HEAD") == "ref: refs/heads/main\n")
    }

    @Test(arguments: Transport.allCases) func makeBuildsACProject(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let m = try f.mount(id)
        let out = try f.sh(
            """
            mkdir app && cd app
            printf 'int add(int a, int b) { return a + b; }\\n' > util.c
            printf '#include <stdio.h>\\nint add(int, int);\\nint main(void) { printf("%%d\\\\n", add(2, 3)); return 0; }\\n' > main.c
            printf 'app: main.o util.o\\n\\tgcc -o app main.o util.o\\n%%.o: %%.c\\n\\tgcc -O1 -c -o $@ $<\\n' > Makefile
            make -s && ./app
            make | grep -c 'up to date'
            sleep 1.1
            printf 'int add(int a, int b) { return a * b; }\\n' > util.c
            make
            ./app
            """, in: m.directory)
        #expect(out == "5\n1\ngcc -O1 -c -o util.o util.c\ngcc -o app main.o util.o\n6\n")
        #expect(try m.unmount() == 0)
        let stat = try f.cli(["fs", "stat", id, "/app/app", "--json"]).output
        #expect(stat.contains("\"mode\" : 493"), "the linked binary lost its mode: \(stat)")
    }

    @Test(arguments: Transport.allCases) func sqliteWithTwoConcurrentWriters(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let m = try f.mount(id)
        let script = """
            import sqlite3, multiprocessing, sys
            db = sys.argv[1]
            def work(n):
                # BEGIN IMMEDIATE takes the write lock up front, waiting up to the timeout: a deferred
                # transaction that holds a read lock when the other writer is committing gets
                # "database is locked" at once (SQLite's deadlock rule), whatever the timeout.
                c = sqlite3.connect(db, timeout=60, isolation_level=None)
                for i in range(40):
                    c.execute('begin immediate')
                    c.execute('insert into t values (?, ?)', (n, i))
                    c.execute('commit')
                c.close()
            if __name__ == '__main__':
                c = sqlite3.connect(db)
                c.execute('create table t (writer int, i int)')
                c.commit()
                c.close()
                ps = [multiprocessing.Process(target=work, args=(n,)) for n in range(2)]
                for p in ps: p.start()
                for p in ps: p.join()
                c = sqlite3.connect(db)
                print(c.execute('select count(*), count(distinct writer) from t').fetchone(), c.execute('pragma integrity_check').fetchone()[0])
            """
        try script.write(toFile: f.root + "/writers.py", atomically: true, encoding: .utf8)
        let out = try f.sh("python3 \(f.root)/writers.py \(m.directory)/data.db", in: m.directory)
        #expect(out == "(80, 2) ok\n")
        #expect(try m.unmount() == 0)
        // The database as the store holds it, checked outside the mount.
        let copy = f.root + "/copy.db"
        #expect(try f.download(id, "/data.db", to: copy) == 0)
        let check = try f.sh(
            "python3 -c \"import sqlite3; c = sqlite3.connect('\(copy)'); print(c.execute('select count(*) from t').fetchone()[0])\"", in: f.root)
        #expect(check == "80\n")
    }

    @Test func apiWritesAppearInTheMount() throws {
        // Remote only: an embedded store belongs to the mount's process while it runs.
        let f = try MountFixture(.remote)
        let id = try f.createSession()
        #expect(try f.cli(["fs", "write", id, "/notes.txt"], stdin: Data("first\n".utf8)).status == 0)
        let m = try f.mount(id)
        #expect(try String(contentsOfFile: m.directory + "/notes.txt", encoding: .utf8) == "first\n")
        #expect(try f.cli(["fs", "write", id, "/notes.txt"], stdin: Data("second version\n".utf8)).status == 0)
        #expect(try f.cli(["fs", "write", id, "/other.txt"], stdin: Data("x".utf8)).status == 0)
        let deadline = Date().addingTimeInterval(10)
        var seen = ""
        while Date() < deadline {
            seen = (try? String(contentsOfFile: m.directory + "/notes.txt", encoding: .utf8)) ?? ""
            if seen == "second version\n" { break }
            usleep(50_000)
        }
        #expect(seen == "second version\n")
        #expect(FileManager.default.fileExists(atPath: m.directory + "/other.txt"))
        #expect(try m.unmount() == 0)
    }

    @Test func sigtermUploadsPendingWritesAndUnmounts() throws {
        let f = try MountFixture(.embedded)
        let id = try f.createSession()
        let m = try f.mount(id)
        // A file still open for writing when the signal arrives: its bytes must not be lost.
        let fd = open(m.directory + "/open.txt", O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        #expect(write(fd, "pending", 7) == 7)
        kill(m.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(20)
        while m.process.isRunning, Date() < deadline { usleep(20_000) }
        close(fd)
        #expect(!m.process.isRunning)
        #expect(m.process.terminationStatus == 0, "\(m.logText)")
        let mounts = try String(contentsOfFile: "/proc/mounts", encoding: .utf8)
        #expect(!mounts.contains(m.directory), "still mounted after SIGTERM")
        #expect(try f.cat(id, "/open.txt") == "pending")
    }

    @Test func backgroundMountDetachesAndUnmounts() throws {
        let f = try MountFixture(.remote)
        let id = try f.createSession()
        let directory = f.root + "/bg"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let started = try f.cli(["mount", "--background", "--session", id, directory])
        #expect(started.status == 0, "\(started.output)")
        let pidText = try #require(started.output.split(separator: " ").drop { $0 != "process" }.dropFirst().first)
        let pid = try #require(pid_t(pidText))
        defer { if kill(pid, 0) == 0 { _ = try? f.cli(["unmount", "--lazy", directory]); kill(pid, SIGTERM) } }
        try f.sh("echo detached > hello.txt && cat hello.txt", in: directory)
        #expect(try f.cli(["unmount", directory]).status == 0)
        let deadline = Date().addingTimeInterval(20)
        while kill(pid, 0) == 0, Date() < deadline { usleep(20_000) }
        #expect(kill(pid, 0) != 0, "the background mount did not exit after unmount")
        #expect(try f.cat(id, "/hello.txt") == "detached\n")
    }
}

/// The value `body` returns and how long it took.
func measured<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let value = try body()
    return (value, ContinuousClock.now - start)
}

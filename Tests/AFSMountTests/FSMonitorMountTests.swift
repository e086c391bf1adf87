import AFSMount
import AFSTestSupport
import Foundation
import Testing

/// git's file-system monitor served by the mount (`aether fsmonitor`), stable inode numbers across
/// remounts, and API changes reaching the kernel's caches: what makes `git status` on a mount cheap
/// without ever making it wrong.
@Suite(.enabled(if: mountUnavailable == nil, "FUSE is unavailable here (needs /dev/fuse and fusermount3)"), .offCooperativePool)
struct FSMonitorMountTests {
    /// A repository of `files` committed files (4 KiB each) under `repo/` on the mount.
    func makeRepository(_ f: MountFixture, in directory: String, files: Int = 120) throws {
        try f.sh(
            """
            git init -q -b main repo && cd repo
            git config user.email a@example.com && git config user.name agent
            mkdir -p src/sub
            for i in $(seq 1 \(files)); do head -c 4096 /dev/zero | tr '\\0' "$((i % 10))" > src/f$i.txt; done
            echo deep > src/sub/deep.txt
            git add -A && git commit -qm base
            """, in: directory)
        // At rest: the files are published (the mount publishes a file a moment after its last
        // write; until then the monitor names it in every answer, as it must).
        let sync = try f.cli(["sync", directory])
        try #require(sync.status == 0, "\(sync.output)")
    }

    /// `git status` with the monitor switched off, never writing the index (a write without the
    /// monitor would drop its token from the index and make the next monitored run a full scan).
    static let plainStatus = "git --no-optional-locks -c core.fsmonitor=false -c core.untrackedCache=false status --porcelain"

    /// `git status --porcelain` with the monitor as configured, and with it switched off (the truth).
    func statuses(_ f: MountFixture, _ repo: String) throws -> (monitored: String, plain: String) {
        let monitored = try f.sh("git status --porcelain", in: repo)
        let plain = try f.sh(Self.plainStatus, in: repo)
        return (monitored, plain)
    }

    /// One hook query, as git makes it; returns the token and the paths (`["/"]` for everything).
    func hook(_ f: MountFixture, _ repo: String, token: String) throws -> (token: String, paths: [String]) {
        let r = try ChildProcess.run(f.aether, ["fsmonitor", "hook", "2", token], environment: f.environment, directory: repo)
        try #require(r.status == 0, "hook failed: \(String(decoding: r.stderr, as: UTF8.self))")
        let fields = r.stdout.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        // NUL-terminated fields: the last split piece is the empty remainder.
        try #require(fields.count >= 2 && fields.last == "", "malformed hook output \(fields)")
        return (fields[0], Array(fields[1..<(fields.count - 1)]))
    }

    /// The mount's counters: `getattr` requests, all requests the kernel sent, bytes read.
    func metric(_ f: MountFixture, _ directory: String) throws -> (getattr: Int, requests: Int, read: Int) {
        let snapshot = try f.json(["metrics", "show", directory])
        let operations = snapshot["operations"] as? [String: [String: Any]] ?? [:]
        let bytes = snapshot["bytes"] as? [String: Any] ?? [:]
        let requests = operations.values.reduce(0) { $0 + (($1["count"] as? Int) ?? 0) }
        return ((operations["getattr"]?["count"] as? Int) ?? 0, requests, (bytes["read"] as? Int) ?? 0)
    }

    @Test(arguments: Transport.allCases) func gitStatusWithTheMonitorSeesEveryChange(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        let m = try f.mount(id)
        try makeRepository(f, in: m.directory)
        let repo = m.directory + "/repo"
        let enable = try f.cli(["fsmonitor", "enable", repo])
        try #require(enable.status == 0, "\(enable.output)")
        #expect(try f.sh("git config core.fsmonitorHookVersion", in: repo) == "2\n")
        // git runs the small hook executable installed beside aether, which answers as aether does.
        let companion = URL(fileURLWithPath: f.aether).deletingLastPathComponent().appendingPathComponent("aether-fsmonitor").path
        #expect(try f.sh("git config core.fsmonitor", in: repo) == companion + "\n")

        // The first query has no token of ours: "everything", and a token to start from.
        let first = try hook(f, repo, token: "")
        let small = try ChildProcess.run(companion, ["2", first.token], environment: f.environment, directory: repo + "/src")
        let same = try ChildProcess.run(f.aether, ["fsmonitor", "hook", "2", first.token], environment: f.environment, directory: repo + "/src")
        #expect(small.status == 0 && small.stdout == same.stdout, "\(String(decoding: small.stderr, as: UTF8.self))")
        let outside = try ChildProcess.run(companion, ["2", first.token], environment: f.environment, directory: "/")
        #expect(outside.status == 1 && String(decoding: outside.stderr, as: UTF8.self).contains("not inside a running aether mount"))
        #expect(first.paths == ["/"])
        #expect(FSMonitorToken(first.token)?.session == id)
        let foreign = try hook(f, repo, token: FSMonitorToken(session: "s-other", seq: 1).description)
        #expect(foreign.paths == ["/"], "a token of another session is never trusted")
        let quiet = try hook(f, repo, token: first.token)
        #expect(quiet.paths.isEmpty, "nothing changed since the last answer: \(quiet.paths)")

        // git settles on the monitor (its first run stores a token in the index).
        for _ in 0..<2 { #expect(try statuses(f, repo).monitored == "") }

        // Changes through the mount: edit, create, delete, rename, remove a directory.
        try f.sh(
            """
            echo more >> src/f1.txt
            echo new > new.txt
            rm src/f2.txt
            mv src/f3.txt src/f3b.txt
            rm -r src/sub
            """, in: repo)
        let expected = [" D src/f2.txt", " D src/f3.txt", " D src/sub/deep.txt", " M src/f1.txt", "?? new.txt", "?? src/f3b.txt"]
        var (monitored, plain) = try statuses(f, repo)
        #expect(plain.split(separator: "\n").map(String.init).sorted() == expected)
        #expect(monitored == plain)

        let edits = try hook(f, repo, token: quiet.token)
        for path in ["src/f1.txt", "new.txt", "src/f2.txt", "src/f3.txt", "src/f3b.txt", "src/sub/"] {
            #expect(edits.paths.contains(path), "\(path) missing from \(edits.paths)")
        }
        #expect(!edits.paths.contains("src/f9.txt"))

        // A file held open with unpublished writes is reported before it is closed.
        let held = FileHandle(forUpdatingAtPath: repo + "/src/f9.txt")
        try #require(held != nil)
        held!.seekToEndOfFile()
        held!.write(Data("pending\n".utf8))
        let open = try hook(f, repo, token: edits.token)
        #expect(open.paths.contains("src/f9.txt"), "an open dirty file is reported: \(open.paths)")
        try held!.close()

        if transport != .embedded {
            // Another client writes through the API: the changefeed tells git.
            #expect(try f.cli(["fs", "write", id, "/repo/src/f10.txt"], stdin: Data("from the api\n".utf8)).status == 0)
            #expect(try f.cli(["fs", "rm", id, "/repo/src/f11.txt"]).status == 0)
            let deadline = Date().addingTimeInterval(10)
            repeat {
                (monitored, plain) = try statuses(f, repo)
                if plain.contains("src/f11.txt") { break }
                usleep(200_000)
            } while Date() < deadline
            #expect(plain.contains(" M src/f10.txt") && plain.contains(" D src/f11.txt"), "\(plain)")
            #expect(monitored == plain)
        }

        // Commit everything; with nothing changed, git asks the monitor and stats (almost) nothing.
        try f.sh("git add -A && git commit -qm edits", in: repo)
        #expect(try statuses(f, repo).monitored == "")
        // The changefeed is followed, so the kernel keeps names, attributes and listings and
        // answers git's lstats and readdirs itself: a warm status, plain or monitored, sends the
        // mount the opens of the few files git reads (index, HEAD, config, refs), not one request per file.
        let files = Int(try f.sh("git ls-files | wc -l", in: repo).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(files >= 100)
        let plainBefore = try metric(f, m.directory)
        #expect(try f.sh(Self.plainStatus, in: repo) == "")
        var after = try metric(f, m.directory)
        let plainRequests = after.requests - plainBefore.requests
        #expect(plainRequests < files / 2, "a warm plain git status over \(files) files sent the mount \(plainRequests) requests")
        #expect(after.getattr - plainBefore.getattr <= 10, "\(after.getattr - plainBefore.getattr) getattr requests")
        let before = try metric(f, m.directory)
        #expect(try f.sh("git status --porcelain", in: repo) == "")
        after = try metric(f, m.directory)
        let monitoredRequests = after.requests - before.requests
        #expect(monitoredRequests < files / 2, "a warm monitored git status over \(files) files sent the mount \(monitoredRequests) requests")
        #expect(try m.unmount() == 0)
    }

    /// The token outlives the mount, inode numbers and change times are stable: after a remount git
    /// neither re-reads the tree (index still valid) nor needs anything but the monitor's answer.
    @Test(arguments: Transport.allCases) func remountKeepsGitIndexValid(_ transport: Transport) throws {
        let f = try MountFixture(transport)
        let id = try f.createSession()
        var m = try f.mount(id)
        try makeRepository(f, in: m.directory, files: 200)
        var repo = m.directory + "/repo"
        // Files older than the index by more than git's racy window.
        sleep(2)
        _ = try f.sh("git status --porcelain && stat -c '%i %Z %Y' src/f1.txt src/sub/deep.txt", in: repo)
        // Until the write-back has reached the service, a directory shows the mount's own guess of its
        // times (the service stamps them when it applies the change, later under load). Once
        // `aether sync` returns, the mount and the kernel hold the service's, to the nanosecond.
        #expect(try f.cli(["sync", m.directory]).status == 0)
        let stats = try f.sh("stat -c '%i %.9Z %.9Y' src/f1.txt src/sub/deep.txt .", in: repo)
        #expect(try f.cli(["fsmonitor", "enable", repo]).status == 0)
        _ = try statuses(f, repo)
        let token = try hook(f, repo, token: "").token
        #expect(try m.unmount() == 0)

        m = try f.mount(id)
        repo = m.directory + "/repo"
        let remounted = try f.sh("stat -c '%i %.9Z %.9Y' src/f1.txt src/sub/deep.txt .", in: repo)
        #expect(remounted == stats, "inode numbers and times survive a remount: before \(stats), after \(remounted)")
        let since = try hook(f, repo, token: token)
        #expect(!since.paths.contains("/") && !since.paths.contains { $0.hasPrefix("src/") }, "the token is still good after a remount: \(since.paths)")

        // Without the monitor git lstat()s every file; with stable numbers it re-reads none of them.
        let before = try metric(f, m.directory)
        #expect(try f.sh("git -c core.fsmonitor=false status --porcelain", in: repo) == "")
        let after = try metric(f, m.directory)
        let treeBytes = 200 * 4096
        #expect(after.read - before.read < treeBytes / 4, "git re-read \(after.read - before.read) bytes of a \(treeBytes)-byte tree after a remount")
        #expect(try f.sh("git status --porcelain", in: repo) == "")
        #expect(try m.unmount() == 0)
    }

    /// Another client changes files through the API while they sit in the kernel's caches (read,
    /// stat'ed, listed): sizes, contents and names in the mount follow within the changefeed's window.
    @Test func apiChangesReachTheKernelCaches() throws {
        let f = try MountFixture(.remote)
        let id = try f.createSession()
        for (path, text) in [("/grow.txt", "short"), ("/same.txt", "aaaa"), ("/old-name.txt", "moved"), ("/doomed.txt", "bye"), ("/sub/one.txt", "1")] {
            #expect(try f.cli(["fs", "write", id, path], stdin: Data(text.utf8)).status == 0)
        }
        let m = try f.mount(id)
        let d = m.directory
        // Warm every cache: attributes, names, pages.
        for _ in 0..<2 {
            // Missing names too: the kernel keeps negative entries while the changefeed is followed.
            _ = try f.sh(
                "ls -l . sub >/dev/null; cat grow.txt same.txt old-name.txt doomed.txt >/dev/null; stat grow.txt same.txt >/dev/null; "
                    + "test -e later.txt || test -e sub/added.txt || true", in: d)
        }
        #expect(try f.cli(["fs", "write", id, "/grow.txt"], stdin: Data("a much longer text than before\n".utf8)).status == 0)
        #expect(try f.cli(["fs", "write", id, "/same.txt"], stdin: Data("bbbb".utf8)).status == 0)
        #expect(try f.cli(["fs", "mv", id, "/old-name.txt", "/new-name.txt"]).status == 0)
        #expect(try f.cli(["fs", "rm", id, "/doomed.txt"]).status == 0)
        #expect(try f.cli(["fs", "write", id, "/later.txt"], stdin: Data("new".utf8)).status == 0)
        #expect(try f.cli(["fs", "write", id, "/sub/added.txt"], stdin: Data("2".utf8)).status == 0)

        func size(_ path: String) -> Int? {
            var st = stat()
            return lstat(path, &st) == 0 ? Int(st.st_size) : nil
        }
        func current() -> (Int?, String?, String?, Bool, Bool, [String], [String], String?) {
            (
                size(d + "/grow.txt"), try? String(contentsOfFile: d + "/grow.txt", encoding: .utf8),
                try? String(contentsOfFile: d + "/same.txt", encoding: .utf8),
                FileManager.default.fileExists(atPath: d + "/old-name.txt"), FileManager.default.fileExists(atPath: d + "/doomed.txt"),
                ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).sorted(),
                ((try? FileManager.default.contentsOfDirectory(atPath: d + "/sub")) ?? []).sorted(),
                try? String(contentsOfFile: d + "/later.txt", encoding: .utf8)
            )
        }
        let wanted = "a much longer text than before\n"
        let rootNames = ["grow.txt", "later.txt", "new-name.txt", "same.txt", "sub"]
        let deadline = Date().addingTimeInterval(5)
        var now = current()
        while Date() < deadline {
            now = current()
            if now.0 == wanted.utf8.count, now.1 == wanted, now.2 == "bbbb", !now.3, !now.4, now.5 == rootNames, now.6 == ["added.txt", "one.txt"],
                now.7 == "new"
            {
                break
            }
            usleep(50_000)
        }
        #expect(now.0 == wanted.utf8.count, "stale size \(String(describing: now.0))")
        #expect(now.1 == wanted)
        #expect(now.2 == "bbbb", "same-size rewrite served from stale pages")
        #expect(!now.3 && !now.4, "removed names still resolve")
        #expect(now.5 == rootNames, "cached listing of the root")
        #expect(now.6 == ["added.txt", "one.txt"], "cached listing of a directory")
        #expect(now.7 == "new", "a name the kernel knew as missing")
        #expect(try String(contentsOfFile: d + "/new-name.txt", encoding: .utf8) == "moved")
        #expect(try m.unmount() == 0)
    }
}

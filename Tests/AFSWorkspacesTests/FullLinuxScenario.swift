import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// A workspace on the Debian base is a full Linux machine, and costs only its changes. Both real
/// drivers must pass it (QEMU boots the base image, bubblewrap lies an overlay over its tree):
/// - the user is `aether` with passwordless sudo, bash, landing in the project directory;
/// - apt, dpkg, git, python3 and a C compiler are there; a shell gets a real terminal;
/// - a package installed with dpkg from a .deb copied in, a file in home, an /etc edit and a file
///   in /usr/local survive stop/start;
/// - a second workspace on the same base shares it: its delta is a small fraction of the base;
/// - deleting the first removes only its own files: the base is byte-identical and the second
///   workspace still runs with its files.
func fullLinuxScenario(_ cli: WorkspaceCLI, guest: String, base: String, baseBytes: Int64, startTimeout: Int) throws {
    let created = try cli.workspace(["create", "--project", "full-linux", "--cpus", "1", "--memory", "1024", "--volume-size", "2"])
    let id = created.id
    #expect(created.image == base && created.user == "aether", "a new workspace is on the current base with the default user: \(created)")
    let detail = try cli.ok(["get", id])
    #expect(detail.contains("image:        \(base)") && detail.contains("user:         aether"), "\(detail)")
    _ = try cli.workspace(["start", id, "--timeout", String(startTimeout)])

    let (status, tools) = try cli.ssh(id, """
        echo "user=$(id -un) uid=$(id -u) dir=$(pwd) shell=$SHELL project=$(readlink ~/project)"
        sudo -n true && echo sudo=ok
        apt-get --version | head -n1; dpkg --version | head -n1; git --version; python3 -c 'print(1)'; cc --version | head -n1
        cat /usr/share/aether/base
        """)
    #expect(status == 0, "\(tools)")
    for expected in ["user=aether uid=1000 dir=/workspace shell=/bin/bash project=/workspace", "sudo=ok", "apt 2.", "Debian 'dpkg'", "git version 2.", "\n1\n", "cc (Debian", base] {
        #expect(tools.contains(expected), "missing \(expected) in: \(tools)")
    }

    // A real terminal: an interactive `aether workspace ssh` gets one inside, in /workspace; Ctrl-C
    // interrupts the foreground command and the shell goes on; vim edits a file.
    let typed = try FullLinux.typeInto(
        cli, id,
        [
            ("[ -t 0 ] && [ -t 1 ] && echo IS-A-$((6*7))-TTY; pwd\n", 3), ("sleep 60\n", 3), ("\u{3}", 1),
            ("echo interrupted-rc=$?\n", 2), ("vim -u NONE -N /tmp/vim.txt\n", 5), ("ihello from vim\u{1b}:wq\n", 3),
            ("cat /tmp/vim.txt; exit\n", 3),
        ])
    #expect(typed.contains("IS-A-42-TTY") && typed.contains("\r\n/workspace\r\n"), "an interactive ssh has a terminal and starts in /workspace: \(typed.suffix(800))")
    #expect(typed.contains("interrupted-rc=130") && typed.contains("hello from vim\r\n"), "Ctrl-C and vim on the terminal: \(typed.suffix(800))")

    // A package from a local .deb (no network needed), plus changes all over the root.
    let deb = try FullLinux.helloPackage()
    let copy = try cli.run(["ssh", id, "--", "cat > /tmp/afs-hello.deb"], stdin: deb)
    #expect(copy.status == 0, "\(copy)")
    let (installed, installLog) = try cli.ssh(id, """
        sudo -n dpkg -i /tmp/afs-hello.deb && afs-hello && echo from-home > ~/home-note.txt &&
        echo 'edited = yes' | sudo -n tee /etc/afs-edited.conf && echo local | sudo -n tee /usr/local/bin/afs-local && sync
        """)
    #expect(installed == 0 && installLog.contains("hello from a package"), "\(installLog)")

    #expect(try cli.workspace(["stop", id]).status == .stopped)
    _ = try cli.workspace(["start", id, "--timeout", String(startTimeout)])
    let (_, after) = try cli.ssh(id, """
        afs-hello; dpkg-query -W -f='${Status}\\n' afs-hello; cat ~/home-note.txt /etc/afs-edited.conf /usr/local/bin/afs-local
        """)
    for expected in ["hello from a package", "install ok installed", "from-home", "edited = yes", "local"] {
        #expect(after.contains(expected), "\(expected) did not survive stop/start: \(after)")
    }

    // A second workspace shares the base; each stores its changes only.
    let second = try cli.workspace(["create", "--project", "full-linux", "--cpus", "1", "--memory", "1024", "--volume-size", "2"])
    _ = try cli.workspace(["start", second.id, "--timeout", String(startTimeout)])
    let (_, secondSees) = try cli.ssh(second.id, "echo mine > ~/second.txt; sync; cat /usr/share/aether/base; command -v afs-hello || echo no-afs-hello")
    #expect(secondSees.contains(base) && secondSees.contains("no-afs-hello"), "the first workspace's package is its own: \(secondSees)")
    let firstDelta = try FullLinux.allocatedBytes(cli.vmd.data + "/workspaces/" + id)
    let secondDelta = try FullLinux.allocatedBytes(cli.vmd.data + "/workspaces/" + second.id)
    #expect(secondDelta * 5 < baseBytes, "a new workspace costs a fraction of its \(baseBytes)-byte base, not a copy: \(secondDelta)")
    #expect(firstDelta * 2 < baseBytes, "a workspace with a package installed still stores only its changes: \(firstDelta) of \(baseBytes)")

    // Deleting the first leaves the base and the second alone.
    let baseDigest = try FullLinux.digest(guest: guest, base: base)
    try cli.ok(["delete", id, "--yes"])
    #expect(leftovers(of: id, dataDirectory: cli.vmd.data).isEmpty)
    #expect(try FullLinux.digest(guest: guest, base: base) == baseDigest, "deleting a workspace never touches its base")
    let (alive, kept) = try cli.ssh(second.id, "cat ~/second.txt")
    #expect(alive == 0 && kept.contains("mine"), "\(kept)")
    try cli.ok(["delete", second.id, "--yes"])
    #expect(leftovers(of: second.id, dataDirectory: cli.vmd.data).isEmpty)
}

enum FullLinux {
    /// A tiny architecture-independent package, built on the host with dpkg-deb.
    static func helloPackage() throws -> Data {
        let dir = "/var/tmp/afs-hello-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/pkg/DEBIAN", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/pkg/usr/bin", withIntermediateDirectories: true)
        try """
            Package: afs-hello
            Version: 1.0
            Architecture: all
            Maintainer: AetherFS tests <tests@aetherfs.invalid>
            Description: says hello (AetherFS workspace tests)

            """.write(toFile: dir + "/pkg/DEBIAN/control", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho hello from a package\n".write(toFile: dir + "/pkg/usr/bin/afs-hello", atomically: true, encoding: .utf8)
        chmod(dir + "/pkg/usr/bin/afs-hello", 0o755)
        let r = try ChildProcess.run("/usr/bin/dpkg-deb", ["--build", "--root-owner-group", dir + "/pkg", dir + "/afs-hello.deb"], mergeStderr: true)
        guard r.status == 0, let data = FileManager.default.contents(atPath: dir + "/afs-hello.deb") else {
            throw GuestImageError(description: "dpkg-deb failed: \(String(decoding: r.stdout, as: UTF8.self))")
        }
        return data
    }

    /// Types `keys` into `aether workspace ssh ID` running on a pseudo-terminal
    /// (Tests/Python/terminal_session.py), waiting the given seconds after each, as a person at a
    /// terminal would; returns what the terminal showed.
    static func typeInto(_ cli: WorkspaceCLI, _ id: String, _ keys: [(String, Double)]) throws -> String {
        let json = try JSONSerialization.data(withJSONObject: keys.map { [$0.0, $0.1] as [Any] })
        let r = try ChildProcess.run(
            "/usr/bin/python3",
            [GuestImages.root + "/Tests/Python/terminal_session.py", String(decoding: json, as: UTF8.self), cli.aether, "workspace", "ssh", id],
            environment: cli.vmd.environment)
        return String(decoding: r.stdout, as: UTF8.self)
    }

    /// Bytes a file or tree occupies on disk (sparse files count what they allocated).
    static func allocatedBytes(_ path: String) throws -> Int64 {
        let r = try ChildProcess.run("/usr/bin/du", ["-s", "-B1", path])
        guard r.status == 0, let n = String(decoding: r.stdout, as: UTF8.self).split(separator: "\t").first.flatMap({ Int64($0) }) else {
            throw GuestImageError(description: "du \(path) failed")
        }
        return n
    }

    /// sha256 of the base's image, and of the listing of its tree (names, sizes, times).
    static func digest(guest: String, base: String) throws -> String {
        let dir = guest + "/bases/" + base
        let r = try ChildProcess.run("/bin/sh", ["-c", "sha256sum root.img && find rootfs -printf '%p %s %T@ %m\\n' | LC_ALL=C sort | sha256sum"], directory: dir)
        return String(decoding: r.stdout, as: UTF8.self)
    }
}

import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// A real afs-server holding a project's base session, for workspaces whose /workspace is a fork of it.
struct ProjectServer {
    let server: ServerProcess
    let base: String
    let aether = ServerProcess.productsDirectory(containing: "aether") + "/aether"

    /// - Parameter tls: serve afs-server over TLS (workspaces then reach it with the tests' CA).
    init(tls: Bool = false) throws {
        server = try ServerProcess(backend: tls ? .tls : .embedded)
        let source = server.data + "-src"
        try FileManager.default.createDirectory(atPath: source + "/src", withIntermediateDirectories: true)
        try "# my-app\n".write(toFile: source + "/README.md", atomically: true, encoding: .utf8)
        try "int main(void) { return 0; }\n".write(toFile: source + "/src/main.c", atomically: true, encoding: .utf8)
        let r = try ChildProcess.run(
            aether, ["session", "create", "--from-dir", source, "--name", "my-app", "--json"], environment: ProjectServer.environment(server))
        try? FileManager.default.removeItem(atPath: source)
        let object = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any]
        base = try #require(object?["id"] as? String, "session create failed: \(String(decoding: r.stderr, as: UTF8.self))")
    }

    var environment: [String: String] { ProjectServer.environment(server) }

    static func environment(_ server: ServerProcess) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AFS_AETHER_SERVER_ENDPOINT"] = server.base
        env["AFS_TOKEN"] = server.adminToken
        env["AFS_STORE"] = nil
        env["AETHER_CONFIG"] = server.data + "/no-config.toml"
        env["AETHER_CA_CERT"] = server.caCertificate
        return env
    }

    var vmdArguments: [String] {
        ["--aether-endpoint", server.base, "--aether-token", server.adminToken] + (server.caCertificate.map { ["--aether-ca-cert", $0] } ?? [])
    }

    func cat(_ session: String, _ path: String) throws -> (Int32, String) {
        let r = try ChildProcess.run(aether, ["fs", "cat", session, path], environment: environment)
        return (r.status, String(decoding: r.stdout, as: UTF8.self))
    }
}

/// /workspace is the workspace's own fork of the project: the base's files are there, writes land
/// in the fork (not the base), survive stop/start, and the fork goes away with the workspace.
func projectFilesScenario(_ cli: WorkspaceCLI, _ project: ProjectServer, startTimeout: Int) throws {
    let ws = try cli.workspace(["create", "--project", project.base, "--cpus", "1", "--memory", "256", "--volume-size", "1"])
    let fork = try #require(ws.session, "the workspace got a fork of the project")
    #expect(fork != project.base)
    _ = try cli.workspace(["start", ws.id, "--timeout", String(startTimeout)])
    let (status, out) = try cli.ssh(ws.id, "cat /workspace/README.md /workspace/src/main.c && echo from-the-vm > /workspace/new.txt && sync")
    #expect(status == 0 && out.contains("# my-app") && out.contains("int main"), "\(out)")
    _ = try cli.workspace(["stop", ws.id])
    let (found, text) = try project.cat(fork, "/new.txt")
    #expect(found == 0 && text == "from-the-vm\n", "the VM's write reached the fork: \(text)")
    #expect(try project.cat(project.base, "/new.txt").0 == 3, "the base is untouched")
    #expect(!MountList.contains("/workspaces/\(ws.id)/project"), "the project mount ends with the workspace's run")

    _ = try cli.workspace(["start", ws.id, "--timeout", String(startTimeout)])
    let (_, again) = try cli.ssh(ws.id, "cat /workspace/new.txt")
    #expect(again.contains("from-the-vm"), "\(again)")
    try cli.ok(["delete", ws.id, "--yes"])
    #expect(try project.cat(fork, "/README.md").0 == 3, "the fork is deleted with the workspace")
    #expect(try project.cat(project.base, "/README.md").0 == 0)
    #expect(leftovers(of: ws.id, dataDirectory: cli.vmd.data).isEmpty)
}

enum MountList {
    static func contains(_ fragment: String) -> Bool {
        ((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "").contains(fragment)
    }
}

/// FUSE is needed to mount project sessions.
enum MountAvailability {
    static let problem: String? = {
        if !FileManager.default.fileExists(atPath: "/dev/fuse") { return "/dev/fuse is absent: project files need a FUSE mount" }
        for dir in ["/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/fusermount3") { return nil }
        return "fusermount3 is not installed (scripts/bootstrap.sh installs fuse3)"
    }()
}

// Forks a base into several proposals, edits each, diffs them against the base, and commits and
// promotes the one with the fewest changes: the way an agent orchestrator uses AFSCore in process.
//
//   swift run AetherFSExample [STORE_DIR]
import AFSCore
import Foundation

let directory = CommandLine.arguments.dropFirst().first ?? NSTemporaryDirectory() + "aetherfs-example-\(getpid())"

func runExample(in directory: String) throws(AFSError) {
    let store = try AetherStore.open(at: directory)

    // A base project. Real code would use .git(repository:ref:) or .directory(path).
    let base = try store.createSession(name: "base", from: .blank)
    try store.writeFile(base.id, path: "/Sources/App/main.swift", data: Array("print(\"hello\")\n".utf8))
    try store.writeFile(base.id, path: "/README.md", data: Array("# App\n".utf8))
    _ = try store.commit(base.id, message: "Base", author: "example")
    _ = try store.promote(base.id, ref: "main")

    // Three agents, three forks: each is one catalog record, whatever the size of the tree.
    let edits: [[(String, String)]] = [
        [("/Sources/App/main.swift", "print(\"hello, world\")\n")],
        [("/Sources/App/main.swift", "print(\"hi\")\n"), ("/Sources/App/Greeting.swift", "let greeting = \"hi\"\n")],
        [("/README.md", "# App\n\nSays hello.\n"), ("/Sources/App/main.swift", "print(\"hey\")\n"), ("/NOTES.md", "todo\n")],
    ]
    var proposals: [(SessionInfo, [DiffEntry])] = []
    for (i, change) in edits.enumerated() {
        let fork = try store.fork(base.id, name: "proposal-\(i + 1)")
        for (path, text) in change { try store.writeFile(fork.id, path: path, data: Array(text.utf8)) }
        let diff = try store.diff(.session(base.id), .session(fork.id))
        print("proposal-\(i + 1) (\(fork.id)): " + diff.map { "\($0.change.rawValue) \($0.path)" }.joined(separator: ", "))
        proposals.append((fork, diff))
    }

    let (winner, _) = proposals.min { $0.1.count < $1.1.count }!
    let commit = try store.commit(winner.id, message: "Adopt \(winner.name ?? winner.id)", author: "example")
    let result = try store.promote(winner.id, ref: "main")
    print("winner \(winner.name ?? winner.id): commit \(commit.id.prefix(12)), main \(result.outcome.rawValue)")
    print(String(decoding: try store.readFile(winner.id, path: "/Sources/App/main.swift"), as: UTF8.self), terminator: "")
    try store.close()
}

do {
    try runExample(in: directory)
} catch {
    FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
    exit(1)
}

import AFSTar
import AFSSupport
import Foundation

/// Imports exactly the tree of a git commit, read with the real `git` program (`ls-tree` for the
/// listing, `cat-file --batch` for the blobs): no checkout, no attributes or filters applied.
/// Submodules (gitlinks) have no content in the repository and are skipped.
struct GitImporter {
    let store: AetherStore
    let progress: (@Sendable (ImportProgress) -> Void)?

    struct Imported {
        var root: ChunkID
        var commit: String
    }

    private func git(_ repository: String, _ args: [String], stdin: Data? = nil) throws(AFSError) -> Data {
        guard let git = Subprocess.which("git") else {
            throw AFSError(.externalTool, "git is not installed; install it (apt-get install git) to import repositories")
        }
        let r = try Subprocess.run(git, ["-C", repository] + args, stdin: stdin)
        guard r.status == 0 else {
            throw AFSError(.externalTool, "git \(args.first ?? "") failed in \(repository): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return r.stdout
    }

    func importCommit(repository: String, ref: String) throws(AFSError) -> Imported {
        guard !ref.hasPrefix("-"), !ref.contains("\0") else { throw AFSError.invalidArgument("invalid git ref '\(ref)'") }
        guard FileManager.default.fileExists(atPath: repository) else { throw AFSError.notFound("repository \(repository) does not exist") }
        let commit = String(decoding: try git(repository, ["rev-parse", "--verify", "--quiet", "\(ref)^{commit}"]), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !commit.isEmpty else { throw AFSError.notFound("ref \(ref) does not name a commit in \(repository)") }
        let time = Int64(String(decoding: try git(repository, ["show", "-s", "--format=%ct", commit]), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let listing = try git(repository, ["ls-tree", "-r", "-z", "--full-tree", commit])
        var entries: [(mode: String, sha: String, path: String)] = []
        for record in listing.split(separator: 0) {
            let line = String(decoding: record, as: UTF8.self)
            guard let tab = line.firstIndex(of: "\t") else { continue }
            let meta = line[..<tab].split(separator: " ")
            guard meta.count == 3 else { continue }
            if meta[1] != "blob" { continue }
            entries.append((String(meta[0]), String(meta[2]), String(line[line.index(after: tab)...])))
        }
        var builder = TreeBuilder(store: store, progress: progress)
        let mtime = time * 1_000_000_000
        // Stream blobs through one `cat-file --batch` process.
        guard let gitPath = Subprocess.which("git") else { throw AFSError(.externalTool, "git is not installed") }
        var command = Command(gitPath, ["-C", repository, "cat-file", "--batch"])
        command.stdin = .bytes(Array(entries.map { $0.sha + "\n" }.joined().utf8))
        command.stdout = .pipe
        command.stderr = .null
        let process: Command.Running
        do { process = try command.spawn() } catch { throw AFSError(.externalTool, "cannot run git cat-file: \(error)") }
        let output = process.stdout!
        var reader = BufferedReader(fd: output)
        defer {
            // Closing our end first: a git still writing (we stopped early) gets EPIPE and exits.
            close(output)
            _ = try? process.wait()
        }
        for entry in entries {
            let path = try SessionPath.fromArchive(entry.path)
            guard let header = try reader.line() else { throw AFSError(.externalTool, "git cat-file ended early") }
            let parts = header.split(separator: " ")
            guard parts.count == 3, parts[0] == entry.sha, let size = Int(parts[2]) else {
                throw AFSError(.externalTool, "unexpected git cat-file output '\(header)'")
            }
            if entry.mode == "120000" {
                let target = String(decoding: try reader.bytes(size), as: UTF8.self)
                _ = try reader.bytes(1)
                builder.add(path, TreeValue(kind: .symlink, mode: 0o777, mtime: mtime, size: UInt64(target.utf8.count), content: .symlink(target)))
                continue
            }
            let (content, stored) = try builder.storeFile { (w) throws(AFSError) in
                var left = size
                while left > 0 {
                    let piece = try reader.bytes(min(left, 1 << 20))
                    try w.append(piece)
                    left -= piece.count
                }
            }
            _ = try reader.bytes(1)
            let mode: UInt32 = entry.mode == "100755" ? 0o755 : 0o644
            builder.add(path, TreeValue(kind: .file, mode: mode, mtime: mtime, size: stored, content: content))
        }
        return Imported(root: try builder.build(), commit: commit)
    }
}

/// Reads lines and exact byte counts from a descriptor through a buffer.
struct BufferedReader {
    private var source: FileDescriptorByteSource
    private var buffer: [UInt8] = []
    private var position = 0

    init(fd: Int32) { source = FileDescriptorByteSource(fd: fd) }

    private mutating func fill() throws(AFSError) -> Bool {
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        let more: [UInt8]
        do { more = try source.read(maxLength: 1 << 20) } catch { throw AFSError(.io, "read failed: \(error)") }
        if more.isEmpty { return false }
        buffer.append(contentsOf: more)
        return true
    }

    mutating func line() throws(AFSError) -> String? {
        while true {
            if let nl = buffer[position...].firstIndex(of: 10) {
                let line = String(decoding: buffer[position..<nl], as: UTF8.self)
                position = nl + 1
                return line
            }
            if try !fill() { return nil }
        }
    }

    mutating func bytes(_ count: Int) throws(AFSError) -> [UInt8] {
        while buffer.count - position < count {
            if try !fill() { throw AFSError(.io, "unexpected end of stream") }
        }
        let out = Array(buffer[position..<position + count])
        position += count
        return out
    }
}

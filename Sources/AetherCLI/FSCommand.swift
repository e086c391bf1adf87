import AFSClient
import AFSCore
import ArgumentParser
import Foundation

struct FSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fs", abstract: "Read and change files inside a session.",
        subcommands: [Ls.self, Cat.self, Write.self, Rm.self, Mv.self, Mkdir.self, Stat.self, Mknod.self, Chown.self, Xattr.self])

    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a directory.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Directory (default: the root).") var path: String = "/"

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let entries = try store.list(id, path: path)
                global.emit(entries) {
                    entries.map { e in
                        // As `ls -F`: / directory, @ link, | FIFO, = socket.
                        let suffix = [EntryKind.directory: "/", .symlink: "@", .fifo: "|", .socket: "="][e.kind] ?? ""
                        return "\(Output.mode(e.mode).padding(toLength: 5, withPad: " ", startingAt: 0)) \(String(e.size).padding(toLength: 10, withPad: " ", startingAt: 0)) \(e.name)\(suffix)"
                    }.joined(separator: "\n")
                }
            }
        }
    }

    struct Cat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write files' raw bytes to stdout, one after another.",
            discussion: "Several files are read in batched requests (many files per request), all of a batch from one version of the session. A path that is no regular file is reported at the end, and the exit status is then not 0.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "File paths.") var paths: [String]

        func validate() throws {
            guard !paths.isEmpty else { throw ValidationError("name at least one file path") }
        }

        func run() throws {
            try global.run { (store) throws(AFSError) in
                guard paths.count > 1 else { return try store.copyFile(id, path: paths[0], to: 1) }
                var absent: [String] = []
                var start = 0
                while start < paths.count {
                    let batch = Array(paths[start..<min(paths.count, start + AetherStore.readFilesLimit)])
                    start += batch.count
                    var next = 0
                    try store.readFiles(id, paths: batch) { (file) throws(AFSError) in
                        // Files arrive in the order asked; the paths skipped before this one are no files.
                        while next < batch.count, (try? SessionPath(batch[next]))?.description != file.path {
                            absent.append(batch[next])
                            next += 1
                        }
                        next += 1
                        try file.copy(to: 1)
                    }
                    absent += batch[min(next, batch.count)...]
                }
                guard absent.isEmpty else {
                    throw AFSError(.notFound, "no regular file at \(absent.joined(separator: ", ")) in session \(id)")
                }
            }
        }
    }

    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write stdin to a file (created with its parents, or replaced).",
            discussion: "Example: echo hello | aether fs write ses_… /notes/hello.txt")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("lock-token"), help: "Fencing token of your lease on the path.") var lockToken: UInt64?
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "File path.") var path: String
        @Option(help: "Permission bits in octal, e.g. 755.") var mode: String?

        func run() throws {
            var m: UInt32?
            if let mode {
                guard let v = UInt32(mode, radix: 8), v <= 0o7777 else { throw ValidationError("--mode must be octal, e.g. 644") }
                m = v
            }
            try global.run { (store) throws(AFSError) in
                try store.writeFile(id, path: path, from: 0, mode: m, context: global.context(lockToken: lockToken))
                let st = try store.stat(id, path: path)
                global.emit(st) { "" }
            }
        }
    }

    struct Rm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a file, symlink or (with -r) a directory.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("lock-token"), help: "Fencing token of your lease on the path.") var lockToken: UInt64?
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path.") var path: String
        @Flag(name: [.customShort("r"), .long], help: "Remove directories and their contents.") var recursive = false

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.remove(id, path: path, recursive: recursive, context: global.context(lockToken: lockToken))
                global.emit(["path": path, "removed": "true"]) { "" }
            }
        }
    }

    struct Mv: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename a file or directory.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("lock-token"), help: "Fencing token of your lease on the path.") var lockToken: UInt64?
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "From.") var from: String
        @Argument(help: "To.") var to: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.rename(id, from: from, to: to, context: global.context(lockToken: lockToken))
                global.emit(["from": from, "to": to]) { "" }
            }
        }
    }

    struct Mkdir: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a directory.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("lock-token"), help: "Fencing token of your lease on the path.") var lockToken: UInt64?
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path.") var path: String
        @Flag(name: [.short, .long], help: "Create parents; an existing directory is not an error.") var parents = false

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.makeDirectory(id, path: path, parents: parents, mode: 0o755, context: global.context(lockToken: lockToken))
                global.emit(try store.stat(id, path: path)) { "" }
            }
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a path's kind, mode, size, owner, times, device number, extended attributes and content ID.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path.") var path: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let st = try store.stat(id, path: path)
                global.emit(st) {
                    """
                    path:    \(st.path)
                    kind:    \(st.kind.rawValue)
                    mode:    \(Output.mode(st.mode))
                    size:    \(st.size)
                    mtime:   \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(st.mtime) / 1e9)))
                    ctime:   \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(st.ctime ?? st.mtime) / 1e9)))
                    owner:   \(st.uid.map(String.init) ?? "-"):\(st.gid.map(String.init) ?? "-")\(st.uid == nil && st.gid == nil ? " (whoever mounts the session)" : "")
                    """ + (st.rdev.map { "\ndevice:  \(DeviceNumber.split($0).major),\(DeviceNumber.split($0).minor)" } ?? "")
                        + (st.xattrs.map { "\nxattrs:  \($0.joined(separator: " "))" } ?? "") + """

                    content: \(st.contentID ?? st.target ?? "-")
                    """
                }
            }
        }
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Space accounting, garbage collection and verification.",
        subcommands: [Stats.self, GC.self, Verify.self, WriteStorm.self])

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Logical and physical bytes, chunks, sessions, live ratio.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let s = try store.stats()
                global.emit(s) {
                    """
                    sessions:       \(s.sessions)
                    checkpoints:    \(s.checkpoints)
                    logical bytes:  \(Output.bytes(s.logicalBytes))
                    physical bytes: \(Output.bytes(s.physicalBytes))
                    disk bytes:     \(Output.bytes(s.diskBytes)) in \(s.segments) segment(s)
                    chunks:         \(s.chunks)
                    live ratio:     \(String(format: "%.3f", s.liveRatio))
                    dedup ratio:    \(String(format: "%.1f", s.dedupRatio))x
                    """
                }
            }
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "gc", abstract: "Free the space of deleted sessions and checkpoints.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let r = try store.collectGarbage()
                global.emit(r) {
                    "live chunks \(r.liveChunks), dead \(r.deadChunks); cleaned \(r.segmentsCleaned) segment(s), relocated \(r.chunksRelocated) chunk(s), freed \(Output.bytes(r.bytesFreed))"
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read and check every record and every session tree.", discussion: "Exits with 7 when anything is damaged.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            var damaged = false
            try global.run { (store) throws(AFSError) in
                let r = try store.verify()
                damaged = !r.problems.isEmpty
                global.emit(r) {
                    (["checked \(r.recordsChecked) records (\(Output.bytes(r.bytesChecked))), \(r.treesChecked) session trees: \(r.problems.isEmpty ? "ok" : "\(r.problems.count) problem(s)")"]
                        + r.problems).joined(separator: "\n")
                }
            }
            if damaged { throw ExitCode(7) }
        }
    }

    /// Hidden: used by the crash test. Writes files as fast as it can and prints `ack N` after each
    /// write returns, so a test can kill it with SIGKILL and check every acknowledged write. With
    /// `--forks` it forks the session instead and prints `fork ID` after each fork returns.
    struct WriteStorm: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "write-storm", shouldDisplay: false)
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        @Option var count: Int = 1_000_000
        @Option var seed: UInt64 = 1
        /// A small value makes the chunk index merge all the time, so a kill lands mid-merge.
        @Option var indexMemoryEntries: Int?
        /// Fork instead of writing.
        @Flag var forks = false
        /// A small value makes the catalog's intent log rotate all the time, so a kill lands mid-rotation.
        @Option var intentRotationBytes: Int64?

        func run() throws {
            try global.run(tuning: { options in
                if let indexMemoryEntries { options.indexMemoryEntries = indexMemoryEntries }
                if let intentRotationBytes { options.catalogIntentRotationBytes = intentRotationBytes }
            }) { (store) throws(AFSError) in
                if forks {
                    for i in 0..<count {
                        let fork = try store.fork(id, name: "storm-\(i)", context: .anonymous)
                        FileHandle.standardOutput.write(Data("fork \(fork.id)\n".utf8))
                    }
                    return
                }
                for i in 0..<count {
                    let data = WriteStorm.content(i, seed: seed)
                    try store.writeFile(id, path: "/storm/f\(i % 50)", data: data, mode: nil, context: .anonymous)
                    if i % 211 == 0 { _ = try store.checkpoint(id, label: nil, context: .anonymous) }
                    FileHandle.standardOutput.write(Data("ack \(i)\n".utf8))
                }
            }
        }

        /// Deterministic content for write `i`: the test recomputes it.
        static func content(_ i: Int, seed: UInt64) -> [UInt8] {
            let size = (i * 7919 % 3000) + 10 + (i % 10 == 0 ? 300_000 : 0)
            var x = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            return (0..<size).map { _ in
                x ^= x << 13
                x ^= x >> 7
                x ^= x << 17
                return UInt8(truncatingIfNeeded: x)
            }
        }
    }
}

import AFSClient
import AFSCore
import ArgumentParser
import Foundation

/// Follows a feed. Against a server, each poll is a long poll (the server answers as soon as
/// something arrives). With an embedded store it polls: open, read, close, sleep, so the store is
/// never held between polls and other aether processes can write (they wait up to 10 s for the lock).
func followLoop(_ global: GlobalOptions, interval: Double = 0.25, _ poll: (any AetherService, Double) throws(AFSError) -> Void) throws -> Never {
    if global.isRemote {
        let store = try global.openStore()
        while true {
            do { try poll(store, 20) } catch { throw CLIError(error, json: global.json) }
        }
    }
    while true {
        do {
            try global.run { (store) throws(AFSError) in try poll(store, 0) }
        } catch let error as CLIError where error.code == AFSError.Code.storeLocked.rawValue {
            // Another process held the store for longer than the lock wait (a big import, a
            // loaded machine): a follower outlasts that and polls again.
        }
        Thread.sleep(forTimeInterval: interval)
    }
}

func printEvent(_ e: ChangeEvent, json: Bool) {
    if json {
        print(Output.json(e).replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: ""))
        return
    }
    let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(e.time) / 1e9))
    var line = "\(e.seq)\t\(time)\t\(e.actor)\t\(e.kind.rawValue)\t\(e.path.isEmpty ? "-" : e.path)"
    if let d = e.detail { line += "\t\(d)" }
    print(line)
}

struct ChangesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changes", abstract: "Read a session's changefeed from a cursor.",
        discussion: """
            Prints events after --since (a seq). With --follow, keeps printing as events arrive; with --json
            and --follow, one JSON object per line. Resume after a disconnect with --since LAST_SEQ_SEEN:
            no gaps, no duplicates. A cursor older than retention exits with 9.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Print events after this sequence number.") var since: UInt64 = 0
    @Option(help: "At most this many events per read.") var limit: Int = 1000
    @Flag(help: "Keep waiting for new events.") var follow = false

    func run() throws {
        var cursor = since
        if follow {
            try followLoop(global) { (store, wait) throws(AFSError) in
                for e in try store.changes(id, after: cursor, limit: limit, wait: wait) {
                    printEvent(e, json: global.json)
                    cursor = e.seq
                }
                fflush(nil)
            }
        }
        try global.run { (store) throws(AFSError) in
            let events = try store.changes(id, after: cursor, limit: limit, wait: 0)
            global.emit(events) { events.map { e -> String in
                var l = "\(e.seq)\t\(e.actor)\t\(e.kind.rawValue)\t\(e.path.isEmpty ? "-" : e.path)"
                if let d = e.detail { l += "\t\(d)" }
                return l
            }.joined(separator: "\n") }
        }
    }
}

extension SessionCommand {
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who changed what in a session (its changefeed).", discussion: "With --actor NAME, only that actor's events.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Only events after this sequence number.") var since: UInt64 = 0

        func run() throws {
            // Here --actor filters: only that actor's events.
            let actor = global.actor
            try global.run { (store) throws(AFSError) in
                var all: [ChangeEvent] = []
                var cursor = since
                while true {
                    let page = try store.changes(id, after: cursor, limit: 10_000, wait: 0)
                    if page.isEmpty { break }
                    all += page
                    cursor = page.last!.seq
                }
                if let actor { all = all.filter { $0.actor == actor } }
                if global.json { print(Output.json(all)) } else { for e in all { printEvent(e, json: false) } }
            }
        }
    }

    struct Undo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revert one actor's changes since a checkpoint (default: the latest).",
            discussion: "aether session undo ID --actor NAME [--since CHECKPOINT]. Paths someone else changed afterwards are left alone and listed as skipped.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(help: "Checkpoint to revert to.") var since: String?

        func run() throws {
            // Here --actor names whose changes to revert; the change itself is recorded as
            // $AETHER_ACTOR (or $USER).
            guard let target = global.actor else { throw ValidationError("--actor NAME is required: whose changes to undo") }
            let performer = ProcessInfo.processInfo.environment["AETHER_ACTOR"] ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"
            try global.run { (store) throws(AFSError) in
                let r = try store.undo(id, actor: target, since: since, context: MutationContext(actor: performer))
                global.emit(r) {
                    (r.restored.map { "restored \($0)" } + r.removed.map { "removed  \($0)" } + r.skipped.map { "skipped  \($0) (changed later by someone else)" })
                        .joined(separator: "\n")
                }
            }
        }
    }
}

struct BusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus", abstract: "Session-scoped message topics.", subcommands: [Publish.self, Read.self, Topics.self])

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish a JSON payload (from --data or stdin).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Topic.") var topic: String
        @Option(help: "The JSON payload (default: read stdin).") var data: String?

        func run() throws {
            let payload = data ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            try global.run { (store) throws(AFSError) in
                let m = try store.publish(id, topic: topic, payload: payload.trimmingCharacters(in: .whitespacesAndNewlines), sender: global.actorName)
                global.emit(m) { "\(m.offset)" }
            }
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a topic from an offset.", discussion: "With --follow, waits for new messages (one JSON object per line with --json).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Topic.") var topic: String
        @Option(help: "First offset to read (messages are numbered from 1).") var from: UInt64 = 1
        @Option(help: "At most this many messages per read.") var limit: Int = 1000
        @Flag(help: "Keep waiting for new messages.") var follow = false

        func run() throws {
            var next = from
            if follow {
                try followLoop(global) { (store, wait) throws(AFSError) in
                    for m in try store.messages(id, topic: topic, from: next, limit: limit, wait: wait) {
                        if global.json {
                            print(Output.json(m).replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: ""))
                        } else {
                            print("\(m.offset)\t\(m.sender)\t\(m.payload)")
                        }
                        next = m.offset + 1
                    }
                    fflush(nil)
                }
            }
            try global.run { (store) throws(AFSError) in
                let all = try store.messages(id, topic: topic, from: next, limit: limit, wait: 0)
                global.emit(all) { all.map { "\($0.offset)\t\($0.sender)\t\($0.payload)" }.joined(separator: "\n") }
            }
        }
    }

    struct Topics: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a session's topics.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let t = try store.topics(id)
                global.emit(t) { t.joined(separator: "\n") }
            }
        }
    }
}

struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock", abstract: "Leases on paths, with fencing tokens.",
        discussion: """
            A lease covers a path and everything below it (--exact: the path only). Writes to a path under an
            exclusive lease need its token (--lock-token on fs write/rm/mv/mkdir and session promote); a token
            that expired or was released is stale and refused (exit 10).
            """,
        subcommands: [Acquire.self, Renew.self, Release.self, List.self])

    struct Acquire: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Acquire a lease; prints its fencing token.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path (or prefix) to lease.") var path: String
        @Flag(help: "Exclusive (default: shared).") var exclusive = false
        @Flag(help: "Lease the path only, not what is below it.") var exact = false
        @Option(help: "Time to live in seconds.") var ttl: Double = 60
        @Option(help: "Keep retrying for this many seconds when a conflicting lease is held.") var wait: Double = 0

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let l = try store.acquireLease(id, path: path, exclusive: exclusive, prefix: !exact, ttl: ttl, holder: global.actorName, wait: wait)
                global.emit(l) { "\(l.token)" }
            }
        }
    }

    struct Renew: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Extend a live lease.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Fencing token.") var token: UInt64
        @Option(help: "New time to live in seconds, from now.") var ttl: Double = 60

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let l = try store.renewLease(id, token: token, ttl: ttl)
                global.emit(l) { "\(l.token) until \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: l.expiresAt)))" }
            }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Release a lease.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Fencing token.") var token: UInt64

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.releaseLease(id, token: token)
                global.emit(["released": token]) { "released \(token)" }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Live leases of a session.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.leases(id)
                global.emit(all) {
                    all.map { "\($0.token)\t\($0.exclusive ? "exclusive" : "shared")\t\($0.path)\($0.prefix ? "/**" : "")\t\($0.holder)" }.joined(separator: "\n")
                }
            }
        }
    }
}

struct AnnotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotate", abstract: "Attach a note or evidence to a session, a path, a line range or a commit.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Path the note is about.") var path: String?
    @Option(help: "Line range A-B (needs --path).") var lines: String?
    @Option(help: "Commit the note is about.") var commit: String?
    @Option(help: "Kind: note, evidence, warning, …") var kind: String = "note"
    @Option(name: .shortAndLong, help: "The text.") var message: String

    func run() throws {
        var range: ClosedRange<Int>?
        if let lines {
            let parts = lines.split(separator: "-").map { Int($0) }
            guard (1...2).contains(parts.count), let a = parts[0], let b = parts.count == 2 ? parts[1] : a, a <= b else {
                throw ValidationError("--lines takes A-B with A <= B, e.g. 10-24")
            }
            range = a...b
        }
        try global.run { (store) throws(AFSError) in
            let a = try store.annotate(id, path: path, lines: range, commit: commit, kind: kind, text: message, author: global.actorName)
            global.emit(a) { a.id }
        }
    }
}

struct AnnotationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "annotations", abstract: "List a session's annotations.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Session ID.") var id: String
    @Option(help: "Only notes on this path or below.") var path: String?
    @Option(help: "Only this kind.") var kind: String?
    @Option(help: "Only this author.") var author: String?

    func run() throws {
        try global.run { (store) throws(AFSError) in
            let all = try store.annotations(id, path: path, kind: kind, author: author)
            global.emit(all) {
                all.map { a in
                    let target = a.path.map { p in a.lineStart.map { "\(p):\($0)-\(a.lineEnd!)" } ?? p } ?? a.commitID ?? "session"
                    return "\(a.id)\t\(a.kind)\t\(a.author)\t\(target)\t\(a.text)"
                }.joined(separator: "\n")
            }
        }
    }
}

struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review", abstract: "Request review, approve or reject.",
        discussion: "A session moves active → pending-approval → approved | rejected, and back to active on a new write.",
        subcommands: [Request.self, Approve.self, Reject.self, Status.self])

    /// Approve and Reject differ only in the decision.
    static func decide(_ global: GlobalOptions, _ id: String, approve: Bool, comment: String) throws {
        try global.run { (store) throws(AFSError) in
            let r = try store.decide(id, approve: approve, comment: comment, reviewer: global.actorName)
            global.emit(r) { "\(id): \(r.status.rawValue)" }
        }
    }

    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask for review.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(name: .customLong("reviewer"), help: "A reviewer (repeat for several; none: anyone may review).") var reviewers: [String] = []
        @Option(help: "Approvals needed.") var required: Int = 1

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let r = try store.requestReview(id, reviewers: reviewers, requiredApprovals: required, context: global.context())
                global.emit(r) { "\(id): \(r.status.rawValue), \(r.requiredApprovals) approval(s) needed" }
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve (as --actor).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(name: .shortAndLong, help: "Comment.") var message: String = ""

        func run() throws { try ReviewCommand.decide(global, id, approve: true, comment: message) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject (as --actor).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Option(name: .shortAndLong, help: "Comment.") var message: String = ""

        func run() throws { try ReviewCommand.decide(global, id, approve: false, comment: message) }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the review state.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let r = try store.review(id)
                global.emit(r) {
                    (["\(id): \(r.status.rawValue), \(r.decisions.filter(\.approved).count)/\(r.requiredApprovals) approvals"]
                        + r.decisions.map { "  \($0.reviewer): \($0.approved ? "approved" : "rejected") \($0.comment)" }).joined(separator: "\n")
                }
            }
        }
    }
}

extension RefCommand {
    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Require approvals before promoting into a ref.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Ref name.") var name: String
        @Option(name: .customLong("require-approvals"), help: "Approvals required (0 removes the policy).") var requireApprovals: Int

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.setRefPolicy(name, requiredApprovals: requireApprovals)
                global.emit(["ref": name, "required_approvals": "\(requireApprovals)"]) { "\(name): \(requireApprovals) approval(s) required" }
            }
        }
    }
}

struct KnowledgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knowledge", abstract: "Structured entries (key → JSON value, tags), per session or store-wide.",
        subcommands: [Put.self, Get.self, Ls.self, Rm.self])

    struct Scope: ParsableArguments {
        @Option(help: "Session scope (default: store-wide).") var session: String?
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a JSON value (argument or stdin).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String
        @Argument(help: "JSON value (default: read stdin).") var value: String?
        @Option(name: .customLong("tag"), help: "A tag (repeatable).") var tags: [String] = []

        func run() throws {
            let v = value ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            try global.run { (store) throws(AFSError) in
                let e = try store.putKnowledge(session: scope.session, key: key, value: v.trimmingCharacters(in: .whitespacesAndNewlines), tags: tags, author: global.actorName)
                global.emit(e) { "" }
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a value.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let e = try store.knowledge(session: scope.session, key: key)
                global.emit(e) { e.value }
            }
        }
    }

    struct Ls: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List entries by key prefix or tag.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Option(help: "Key prefix.") var prefix: String?
        @Option(help: "Tag.") var tag: String?

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let all = try store.listKnowledge(session: scope.session, prefix: prefix, tag: tag)
                global.emit(all) { all.map { "\($0.key)\t\($0.tags.joined(separator: ","))\t\($0.value)" }.joined(separator: "\n") }
            }
        }
    }

    struct Rm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an entry.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: Scope
        @Argument(help: "Key.") var key: String

        func run() throws {
            try global.run { (store) throws(AFSError) in
                try store.deleteKnowledge(session: scope.session, key: key)
                global.emit(["deleted": key]) { "" }
            }
        }
    }
}

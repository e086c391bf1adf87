import AFSClient
import AFSCore
import ArgumentParser
import Foundation

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

import AFSClient
import AFSCore
import ArgumentParser
import Foundation

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

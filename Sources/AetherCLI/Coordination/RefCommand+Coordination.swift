import AFSClient
import AFSCore
import ArgumentParser
import Foundation

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

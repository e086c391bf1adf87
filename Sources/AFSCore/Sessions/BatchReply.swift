import Foundation

/// The answer of `POST /v1/sessions/{id}/batch`: one outcome per change, in order.
public struct BatchReply: Sendable, Codable, Equatable {
    public var outcomes: [BatchOutcome]

    public init(outcomes: [BatchOutcome]) {
        self.outcomes = outcomes
    }
}

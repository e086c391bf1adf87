import Foundation

/// The answer of `POST /v1/sessions/{id}/batch`: one outcome per change, in order.
public struct BatchReply: Sendable, Codable, Equatable {
    /// One outcome per change of the request, in the same order.
    public var outcomes: [BatchOutcome]

    /// A reply with `outcomes`, which must follow the order of the request's changes.
    public init(outcomes: [BatchOutcome]) {
        self.outcomes = outcomes
    }
}

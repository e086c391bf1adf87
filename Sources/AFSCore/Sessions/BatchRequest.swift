import Foundation

/// The JSON body of `POST /v1/sessions/{id}/batch`.
public struct BatchRequest: Sendable, Codable, Equatable {
    public var changes: [BatchChange]

    public init(changes: [BatchChange]) {
        self.changes = changes
    }
}

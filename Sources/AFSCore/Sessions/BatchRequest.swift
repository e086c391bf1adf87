import Foundation

/// The JSON body of `POST /v1/sessions/{id}/batch`.
public struct BatchRequest: Sendable, Codable, Equatable {
    /// Changes applied in order: at most `AetherStore.batchChangeLimit` of them, writing at most
    /// `AetherStore.batchByteLimit` bytes in all.
    public var changes: [BatchChange]

    /// A request for `changes`, applied in the order given.
    public init(changes: [BatchChange]) {
        self.changes = changes
    }
}

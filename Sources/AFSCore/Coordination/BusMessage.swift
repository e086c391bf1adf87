import Foundation

/// A message on a session-scoped topic.
public struct BusMessage: Sendable, Codable, Equatable {
    public var session: String
    public var topic: String
    /// Dense per topic, from 1.
    public var offset: UInt64
    public var sender: String
    /// A JSON document, as published.
    public var payload: String
    public var time: Int64

    public init(session: String, topic: String, offset: UInt64, sender: String, payload: String, time: Int64) {
        self.session = session
        self.topic = topic
        self.offset = offset
        self.sender = sender
        self.payload = payload
        self.time = time
    }
}

import Foundation

/// A message on a session-scoped topic.
public struct BusMessage: Sendable, Codable, Equatable {
    /// ID of the session whose bus carried the message.
    public var session: String
    /// Topic name: 1…200 bytes, no spaces or control characters.
    public var topic: String
    /// Dense per topic, from 1.
    public var offset: UInt64
    /// Who published it, as given by the publisher.
    public var sender: String
    /// A JSON document, as published.
    public var payload: String
    /// Nanoseconds since 1970 at publication, by the store's clock.
    public var time: Int64

    /// Memberwise initializer; the catalog assigns `offset` when publishing.
    public init(session: String, topic: String, offset: UInt64, sender: String, payload: String, time: Int64) {
        self.session = session
        self.topic = topic
        self.offset = offset
        self.sender = sender
        self.payload = payload
        self.time = time
    }
}

import AFSWire

/// One documented answer of a route: its status and body.
struct RouteReply: @unchecked Sendable {
    // @unchecked: the metatypes it holds are immutable; it is built once with the route table.
    enum Body {
        case json(any Decodable.Type)
        case bytes(String)
        /// Server-Sent Events whose `data:` lines are this type's JSON.
        case eventStream(any Decodable.Type)
        case none
    }

    var status: Int
    var description: String
    var body: Body

    static func ok(_ type: any Decodable.Type, _ description: String = "success") -> RouteReply { RouteReply(status: 200, description: description, body: .json(type)) }
    static func created(_ type: any Decodable.Type, _ description: String = "created") -> RouteReply { RouteReply(status: 201, description: description, body: .json(type)) }
    static func accepted(_ type: any Decodable.Type) -> RouteReply { RouteReply(status: 202, description: "accepted; the change continues in the background", body: .json(type)) }
    static let noContent = RouteReply(status: 204, description: "done", body: .none)
    static func bytes(_ mediaType: String, _ description: String) -> RouteReply { RouteReply(status: 200, description: description, body: .bytes(mediaType)) }
}

import AFSWire

/// What a route takes as its request body, for the OpenAPI document.
enum RouteBody {
    /// A JSON body of this wire type; `required: false` when the route also accepts none.
    case json(any WireModel.Type, required: Bool = true)
    /// Any JSON document (bus messages, knowledge values), stored as sent.
    case anyJSON(String)
    /// Bytes in one of these media types (the first is the one clients normally send).
    case bytes([String], String)
}

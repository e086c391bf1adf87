/// Collections whose schema is composed from their elements' (`array`, `object` with
/// `additionalProperties`, or the wrapped type for `Optional`).
protocol WireContainer {
    static func containerSchema(in registry: WireSchemaRegistry) throws -> (schema: JSONValue, sample: Any)
}

extension Array: WireContainer where Element: Decodable {
    static func containerSchema(in registry: WireSchemaRegistry) throws -> (schema: JSONValue, sample: Any) {
        let items = try registry.describe(Element.self).schema
        return (["type": "array", "items": items], [Element]())
    }
}

extension Dictionary: WireContainer where Key == String, Value: Decodable {
    static func containerSchema(in registry: WireSchemaRegistry) throws -> (schema: JSONValue, sample: Any) {
        let values = try registry.describe(Value.self).schema
        return (["type": "object", "additionalProperties": values], [String: Value]())
    }
}

extension Optional: WireContainer where Wrapped: Decodable {
    static func containerSchema(in registry: WireSchemaRegistry) throws -> (schema: JSONValue, sample: Any) {
        (try registry.describe(Wrapped.self).schema, Wrapped?.none as Any)
    }
}

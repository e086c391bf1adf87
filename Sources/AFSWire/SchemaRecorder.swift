/// What a `SchemaDecoder` saw while a type decoded itself: its keyed fields (name, schema,
/// required or not) or, for a type that decodes one scalar, that scalar's schema.
final class SchemaRecorder {
    private(set) var properties: [(name: String, schema: JSONValue, required: Bool)] = []
    var single: JSONValue?

    func property(_ name: String, _ schema: JSONValue, required: Bool) {
        if let i = properties.firstIndex(where: { $0.name == name }) {
            properties[i].required = properties[i].required || required
        } else {
            properties.append((name, schema, required))
        }
    }

    func schema(description: String, fields: [String: String]) -> JSONValue {
        if let single, properties.isEmpty { return single }
        var props: [String: JSONValue] = [:]
        for p in properties {
            guard let text = fields[p.name], case .object(var o) = p.schema else {
                props[p.name] = p.schema
                continue
            }
            if o["$ref"] != nil {
                // A sibling of $ref is allowed in 3.1; allOf keeps older tools happy too.
                o = ["allOf": [p.schema]]
            }
            o["description"] = .string(text)
            props[p.name] = .object(o)
        }
        var schema: [String: JSONValue] = [
            "type": "object",
            "properties": .object(props),
            "additionalProperties": false,
        ]
        let required = properties.filter(\.required).map(\.name).sorted()
        if !required.isEmpty { schema["required"] = .array(required.map(JSONValue.string)) }
        if !description.isEmpty { schema["description"] = .string(description) }
        return .object(schema)
    }
}

import AFSWire

/// A documented query parameter.
struct QueryParameter {
    enum Kind: String { case string, integer, boolean }

    var name: String
    var kind: Kind
    var description: String
    var required = false
    /// May be given more than once (`?tag=a&tag=b`).
    var repeated = false

    static func string(_ name: String, _ description: String, required: Bool = false, repeated: Bool = false) -> QueryParameter {
        QueryParameter(name: name, kind: .string, description: description, required: required, repeated: repeated)
    }
    static func integer(_ name: String, _ description: String) -> QueryParameter { QueryParameter(name: name, kind: .integer, description: description) }
    static func boolean(_ name: String, _ description: String) -> QueryParameter { QueryParameter(name: name, kind: .boolean, description: description) }

    var schema: JSONValue {
        let scalar: JSONValue = kind == .integer ? ["type": "integer", "minimum": 0] : ["type": .string(kind.rawValue)]
        return repeated ? ["type": "array", "items": scalar] : scalar
    }
}

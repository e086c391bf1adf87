import Foundation

/// Derives JSON Schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) from `Decodable` types and
/// collects the named ones, for `components.schemas`.
///
/// Derivation runs the type's own `init(from:)` against a decoder that records what it asks
/// for instead of reading input (see `SchemaDecoder`). A type that cannot be described
/// (an enum without ``WireEnum``, a validated scalar without ``WireScalar``, a recursive model)
/// makes derivation throw, so the document's test fails at once rather than the document lying.
public final class WireSchemaRegistry {
    public private(set) var definitions: [String: JSONValue] = [:]
    private var samples: [ObjectIdentifier: Any] = [:]
    private var deriving: Set<ObjectIdentifier> = []

    public init() {}

    /// The schema of `type`: a `$ref` to `#/components/schemas/NAME` for models and enums,
    /// inline for scalars and collections.
    public func schema(for type: any Decodable.Type) throws -> JSONValue {
        try describe(type).schema
    }

    /// A reference to a named schema.
    public static func reference(_ name: String) -> JSONValue {
        ["$ref": .string("#/components/schemas/\(name)")]
    }

    func describe<T: Decodable>(_ type: T.Type) throws -> (schema: JSONValue, sample: T) {
        if let primitive = Self.primitive(T.self) { return (primitive.schema, primitive.sample as! T) }
        if let scalar = T.self as? any WireScalar.Type { return (scalar.wireSchema, scalar.wireSample as! T) }
        if let container = T.self as? any WireContainer.Type {
            let (schema, sample) = try container.containerSchema(in: self)
            return (schema, sample as! T)
        }
        if let enumeration = T.self as? any WireEnum.Type {
            return try describeEnum(enumeration, as: T.self)
        }
        let key = ObjectIdentifier(T.self)
        if let model = T.self as? any WireModel.Type, let sample = samples[key] as? T {
            return (Self.reference(model.wireName), sample)
        }
        guard !deriving.contains(key) else {
            throw WireSchemaError("\(T.self) contains itself; recursive bodies cannot be described")
        }
        deriving.insert(key)
        defer { deriving.remove(key) }
        let recorder = SchemaRecorder()
        let sample: T
        do {
            sample = try T(from: SchemaDecoder(registry: self, recorder: recorder))
        } catch let error as WireSchemaError {
            throw error
        } catch {
            throw WireSchemaError("\(T.self) cannot be described (\(error)); conform it to WireScalar or WireEnum")
        }
        guard let model = T.self as? any WireModel.Type else { return (recorder.schema(description: "", fields: [:]), sample) }
        samples[key] = sample
        definitions[model.wireName] = recorder.schema(description: model.wireDescription, fields: model.wireFieldDescriptions)
        return (Self.reference(model.wireName), sample)
    }

    private func describeEnum<E: WireEnum, T>(_ type: E.Type, as: T.Type) throws -> (schema: JSONValue, sample: T) {
        var schema: [String: JSONValue] = ["type": "string", "enum": .array(E.allCases.map { .string($0.rawValue) })]
        if !E.wireDescription.isEmpty { schema["description"] = .string(E.wireDescription) }
        definitions[E.wireName] = .object(schema)
        guard let first = E.allCases.first as? T else { throw WireSchemaError("\(E.self) has no cases") }
        return (Self.reference(E.wireName), first)
    }

    private static func primitive(_ type: Any.Type) -> (schema: JSONValue, sample: Any)? {
        func integer(_ sample: Any, minimum: Bool, format: String? = nil) -> (schema: JSONValue, sample: Any) {
            var schema: [String: JSONValue] = ["type": "integer"]
            if minimum { schema["minimum"] = 0 }
            if let format { schema["format"] = .string(format) }
            return (.object(schema), sample)
        }
        switch type {
        case is String.Type: return (["type": "string"], "")
        case is Bool.Type: return (["type": "boolean"], false)
        case is Double.Type: return (["type": "number"], 0.0)
        case is Float.Type: return (["type": "number"], Float(0))
        case is Int.Type: return integer(0, minimum: false, format: "int64")
        case is Int64.Type: return integer(Int64(0), minimum: false, format: "int64")
        case is Int32.Type: return integer(Int32(0), minimum: false, format: "int32")
        case is Int16.Type: return integer(Int16(0), minimum: false)
        case is Int8.Type: return integer(Int8(0), minimum: false)
        case is UInt.Type: return integer(UInt(0), minimum: true, format: "int64")
        case is UInt64.Type: return integer(UInt64(0), minimum: true, format: "int64")
        case is UInt32.Type: return integer(UInt32(0), minimum: true, format: "int64")
        case is UInt16.Type: return integer(UInt16(0), minimum: true)
        case is UInt8.Type: return integer(UInt8(0), minimum: true)
        case is Date.Type: return (["type": "string", "format": "date-time"], Date(timeIntervalSince1970: 0))
        case is Data.Type: return (["type": "string", "contentEncoding": "base64"], Data())
        case is JSONValue.Type: return ([:], JSONValue.null)
        default: return nil
        }
    }
}

/// Why a type's schema could not be derived.
public struct WireSchemaError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

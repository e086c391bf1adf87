/// A type that is a named body of the HTTP API: a request or a response.
///
/// Its JSON schema is not written by hand. ``WireSchemaRegistry`` derives it from the type's own
/// `Decodable` conformance — the names its coding keys use, which fields it decodes with
/// `decode` (required) or `decodeIfPresent` (optional), and their types — so the document cannot
/// disagree with what the server decodes and encodes. Each schema is exact
/// (`additionalProperties: false`): the tests validate every JSON body the server sends against
/// it, so a field encoded but not decoded fails a test.
public protocol WireModel: Codable, Sendable {
    /// The name under `components.schemas`. Defaults to the type's name with its enclosing types
    /// (`DiffEntry.Change` → `DiffEntryChange`).
    static var wireName: String { get }
    /// What the body is, for the document.
    static var wireDescription: String { get }
    /// Descriptions of fields, by JSON name.
    static var wireFieldDescriptions: [String: String] { get }
}

extension WireModel {
    public static var wireName: String { WireNames.name(of: Self.self) }
    public static var wireDescription: String { "" }
    public static var wireFieldDescriptions: [String: String] { [:] }
}

/// A string enumeration of the API; its schema lists every case, so a new case is documented
/// the moment it exists.
public protocol WireEnum: CaseIterable, RawRepresentable, Codable, Sendable where RawValue == String {
    static var wireName: String { get }
    static var wireDescription: String { get }
}

extension WireEnum {
    public static var wireName: String { WireNames.name(of: Self.self) }
    public static var wireDescription: String { "" }
}

/// A type encoded as one JSON scalar with a format of its own (an id, a date), whose decoder
/// validates its input: it states its schema and a valid sample instead of being derived.
public protocol WireScalar: Codable {
    static var wireSchema: JSONValue { get }
    static var wireSample: Self { get }
}

enum WireNames {
    /// `AFSCore.DiffEntry.Change` → `DiffEntryChange`.
    static func name(of type: Any.Type) -> String {
        let parts = String(reflecting: type).split(separator: ".")
        return parts.dropFirst(parts.count > 1 ? 1 : 0).joined()
    }
}

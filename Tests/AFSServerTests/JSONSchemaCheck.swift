import Foundation

/// Validates JSON values (as `JSONSerialization` gives them) against the subset of JSON Schema
/// the OpenAPI document uses: `$ref` into `components.schemas`, `type`, `required`,
/// `properties`, `additionalProperties: false`, `items`, `enum` and `minimum`. Returns every
/// violation with its JSON path, so a failing test says exactly what is undocumented or wrong.
struct JSONSchemaCheck {
    let schemas: [String: Any]

    init(document: [String: Any]) {
        schemas = ((document["components"] as? [String: Any])?["schemas"] as? [String: Any]) ?? [:]
    }

    func violations(_ value: Any, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            let name = String(ref.split(separator: "/").last ?? "")
            guard let target = schemas[name] as? [String: Any] else { return ["\(path): unknown schema \(ref)"] }
            return violations(value, target, at: path)
        }
        var out: [String] = []
        for part in schema["allOf"] as? [[String: Any]] ?? [] { out += violations(value, part, at: path) }
        if let allowed = schema["enum"] as? [String] {
            if !allowed.contains(value as? String ?? "\u{0}") { out.append("\(path): \(value) is not one of \(allowed)") }
        }
        switch schema["type"] as? String {
        case "object"?:
            guard let object = value as? [String: Any] else { return ["\(path): expected an object, got \(value)"] }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { out.append("\(path): required \"\(key)\" is missing") }
            for (key, v) in object {
                if let property = properties[key] as? [String: Any] {
                    out += violations(v, property, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    out.append("\(path): \"\(key)\" is not in the schema")
                } else if let values = schema["additionalProperties"] as? [String: Any] {
                    out += violations(v, values, at: "\(path).\(key)")
                }
            }
        case "array"?:
            guard let array = value as? [Any] else { return ["\(path): expected an array, got \(value)"] }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in array.enumerated() { out += violations(v, items, at: "\(path)[\(i)]") }
            }
        case "string"?:
            if !(value is String) { out.append("\(path): expected a string, got \(value)") }
        case "integer"?:
            guard let n = value as? NSNumber, !(value is String), n.doubleValue == n.doubleValue.rounded() else {
                return ["\(path): expected an integer, got \(value)"]
            }
            if let minimum = schema["minimum"] as? Double, n.doubleValue < minimum { out.append("\(path): \(n) is below \(minimum)") }
        case "number"?:
            if !(value is NSNumber) || value is String { out.append("\(path): expected a number, got \(value)") }
        case "boolean"?:
            if !(value is Bool) { out.append("\(path): expected a boolean, got \(value)") }
        default:
            break
        }
        return out
    }
}

import Foundation
import TOMLKit

/// A TOML configuration file (`afs-server --config`, `~/.config/aether/config.toml`), read with
/// TOMLKit (toml++) and flattened to dotted keys: `[server] port = 8787` is `server.port`.
///
/// Settings are scalars: strings, integers, floats and booleans, given back as their text so each
/// caller validates its own keys with its own messages. Arrays, dates and anything TOML allows but
/// no setting uses are refused with the key's name, never silently ignored.
public struct ConfigFile: Sendable {
    public private(set) var values: [String: String] = [:]

    /// Why a file could not be used: where (line, when the parser knows it) and what.
    public struct ParseError: Error, CustomStringConvertible {
        /// 1-based; 0 when the problem is not on one line (an unreadable file, a value's type).
        public let line: Int
        public let message: String
        public var description: String { line > 0 ? "config line \(line): \(message)" : "config: \(message)" }
    }

    public init(text: String) throws(ParseError) {
        if let problem = ConfigFile.screen(text) { throw ParseError(line: problem.line, message: problem.message) }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ParseError(line: error.source.begin.line, message: error.description)
        } catch {
            throw ParseError(line: 0, message: "\(error)")
        }
        try flatten(table, prefix: "")
    }

    public init(path: String) throws(ParseError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParseError(line: 0, message: "cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ParseError(line: 0, message: "\(path) is not UTF-8 text") }
        try self.init(text: text)
    }

    public subscript(key: String) -> String? { values[key] }

    private mutating func flatten(_ table: TOMLTable, prefix: String) throws(ParseError) {
        for key in table.keys {
            guard let value = table[key] else { continue }
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch value.type {
            case .table:
                if let nested = value.table { try flatten(nested, prefix: name) }
            case .string: values[name] = value.string
            case .int: values[name] = value.int.map(String.init)
            case .double: values[name] = value.double.map { String($0) }
            case .bool: values[name] = value.bool.map { $0 ? "true" : "false" }
            default:
                throw ParseError(line: 0, message: "\(name) is a \(value.type); settings are strings, numbers or booleans")
            }
        }
    }
}

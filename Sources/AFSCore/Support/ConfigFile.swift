import Foundation

/// The subset of TOML that `afs-server` and `aether` config files use: `[section]` headers, `key = value` with
/// strings ("…" with \\ \" \n \t escapes), integers, booleans, and `#` comments. Anything else is
/// an error naming the line, never silently ignored.
public struct ConfigFile: Sendable {
    public private(set) var values: [String: String] = [:]

    public struct ParseError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "config line \(line): \(message)" }
    }

    public init(text: String) throws {
        var section = ""
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = ConfigFile.stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[[") else { throw ParseError(line: n + 1, message: "malformed section header") }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { throw ParseError(line: n + 1, message: "expected key = value") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let valueText = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ParseError(line: n + 1, message: "invalid key '\(key)'")
            }
            values[section.isEmpty ? key : "\(section).\(key)"] = try ConfigFile.value(valueText, line: n + 1)
        }
    }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParseError(line: 0, message: "cannot read \(path)")
        }
        try self.init(text: String(decoding: data, as: UTF8.self))
    }

    public subscript(key: String) -> String? { values[key] }

    private static func stripComment(_ line: String) -> String {
        var inString = false
        var escaped = false
        for (i, c) in line.enumerated() {
            if escaped { escaped = false; continue }
            if c == "\\" && inString { escaped = true; continue }
            if c == "\"" { inString.toggle() }
            if c == "#" && !inString { return String(line.prefix(i)) }
        }
        return line
    }

    private static func value(_ text: String, line: Int) throws -> String {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw ParseError(line: line, message: "unterminated string") }
            var out = ""
            var escaped = false
            for c in text.dropFirst().dropLast() {
                if escaped {
                    switch c {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\\", "\"": out.append(c)
                    default: throw ParseError(line: line, message: "unsupported escape \\\(c)")
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    throw ParseError(line: line, message: "unexpected quote inside a string")
                } else {
                    out.append(c)
                }
            }
            return out
        }
        if text == "true" || text == "false" || Int(text.replacingOccurrences(of: "_", with: "")) != nil {
            return text.replacingOccurrences(of: "_", with: "")
        }
        throw ParseError(line: line, message: "unsupported value '\(text)' (use a quoted string, an integer or a boolean)")
    }
}

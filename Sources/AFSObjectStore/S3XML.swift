/// Reads the few fields S3's XML answers carry (`<Key>`, `<Size>`, `<Code>`, …).
///
/// S3 answers are flat and machine-written: elements with text, no attributes that matter, no
/// CDATA. Entities are decoded; nested elements are reached by taking an element's inner text
/// as a new document (``elements(_:)``).
struct S3XML {
    let text: String

    init(_ bytes: [UInt8]) { text = String(decoding: bytes, as: UTF8.self) }
    init(text: String) { self.text = text }

    /// The inner text of every `<name>…</name>`, in order.
    func all(_ name: String) -> [String] {
        var out: [String] = []
        var rest = text[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.range(of: open), let end = rest[start.upperBound...].range(of: close) {
            out.append(String(rest[start.upperBound..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// The decoded text of the first `<name>` element.
    func first(_ name: String) -> String? { all(name).first.map(S3XML.decodeEntities) }

    /// Each `<name>` element, as a document of its own.
    func elements(_ name: String) -> [S3XML] { all(name).map { S3XML(text: $0) } }

    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = ""
        var rest = s[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                if entity.hasPrefix("#x"), let v = UInt32(entity.dropFirst(2), radix: 16), let u = Unicode.Scalar(v) {
                    out.unicodeScalars.append(u)
                } else if entity.hasPrefix("#"), let v = UInt32(entity.dropFirst()), let u = Unicode.Scalar(v) {
                    out.unicodeScalars.append(u)
                } else {
                    out += rest[amp...semi]
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}

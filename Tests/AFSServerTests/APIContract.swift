import Foundation
import Testing

/// Checks every exchange a test makes with afs-server against the server's own OpenAPI document:
/// the route is documented, a successful status is one the operation lists, and a JSON body
/// (the request's, when the server accepted it, and the answer's) validates against the
/// operation's schema. ``ServerHarness`` runs it on every request, so each end-to-end test of the
/// HTTP API is also a test that the document is true.
struct APIContract: @unchecked Sendable {
    // @unchecked: the parsed document is immutable after init and only read.
    let document: [String: Any]
    let check: JSONSchemaCheck
    /// (method, template segments) for every documented operation, literal-heavy templates first.
    private let operations: [(method: String, template: String, segments: [Substring], op: [String: Any])]

    init(document: [String: Any]) {
        self.document = document
        check = JSONSchemaCheck(document: document)
        var ops: [(String, String, [Substring], [String: Any])] = []
        for (template, methods) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for (method, op) in methods {
                guard let op = op as? [String: Any] else { continue }
                ops.append((method.uppercased(), template, template.split(separator: "/"), op))
            }
        }
        // /v1/sessions/import before /v1/sessions/{id}: more literal segments win, as in the router.
        operations = ops.sorted { a, b in
            let la = a.2.filter { !$0.hasPrefix("{") }.count, lb = b.2.filter { !$0.hasPrefix("{") }.count
            return la != lb ? la > lb : a.1 < b.1
        }.map { (method: $0.0, template: $0.1, segments: $0.2, op: $0.3) }
    }

    func operation(_ method: String, _ path: String) -> (template: String, op: [String: Any])? {
        let segments = path.split(separator: "?", maxSplits: 1)[0].split(separator: "/")
        for candidate in operations where candidate.method == method {
            let t = candidate.segments
            let catchAll = t.last == "{path}"
            guard catchAll ? segments.count >= t.count : segments.count == t.count else { continue }
            if zip(t, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return (candidate.template, candidate.op) }
        }
        return nil
    }

    /// What is wrong with one exchange; empty when it is as documented.
    func violations(method: String, path: String, requestJSON: Data?, status: Int, contentType: String?, body: Data) -> [String] {
        // The console's pages and sign-in forms are for browsers, not part of the API.
        guard path.hasPrefix("/v1/") else { return [] }
        let method = method == "HEAD" ? "GET" : method
        guard let (template, op) = operation(method, path) else {
            return status == 404 ? [] : ["\(method) \(path) answered \(status) but is not in the OpenAPI document"]
        }
        let name = "\(method) \(template)"
        let responses = op["responses"] as? [String: Any] ?? [:]
        var out: [String] = []
        if (200..<300).contains(status), let requestJSON, !requestJSON.isEmpty,
            let schema = (((op["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any],
            let value = try? JSONSerialization.jsonObject(with: requestJSON, options: [.fragmentsAllowed])
        {
            out += check.violations(value, schema, at: "request").map { "\(name): \($0)" }
        }
        let documented = responses[String(status)] as? [String: Any]
        if (200..<300).contains(status), documented == nil {
            out.append("\(name) answered \(status), which the document does not list (\(responses.keys.sorted()))")
        }
        guard let reply = documented ?? responses["default"] as? [String: Any] else { return out }
        guard let media = contentType?.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespaces) }), media == "application/json" else {
            return out
        }
        guard let schema = ((reply["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any] else {
            out.append("\(name) answered \(status) with JSON, but the document gives no JSON schema for it")
            return out
        }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            out.append("\(name) answered \(status) with a body that is not JSON")
            return out
        }
        out += check.violations(value, schema, at: "response").map { "\(name) → \(status): \($0)" }
        return out
    }
}

import Foundation
import HTTPTypes
import Hummingbird

/// One documented route. Every route is registered through the table, so the OpenAPI document is
/// generated from exactly what the router serves.
struct APIRoute: Sendable {
    var method: HTTPRequest.Method
    /// OpenAPI template, e.g. `/v1/sessions/{id}/files/{path}`.
    var path: String
    var summary: String
    /// nil: no authentication.
    var role: Role?
    /// The last parameter takes the rest of the path (slashes included).
    var catchAll: Bool
    var requestBody: String?
    var streaming: Bool
    /// The JSON schema of a successful response: a name under `components.schemas`, an array of
    /// one (`[Name]`), or nil when undocumented.
    var response: String? = nil

    var operationID: String {
        let words = path.split(separator: "/").filter { $0 != "v1" }.map { $0.replacingOccurrences(of: "{", with: "by_").replacingOccurrences(of: "}", with: "") }
        return method.rawValue.lowercased() + "_" + words.joined(separator: "_").replacingOccurrences(of: ".", with: "_")
    }

    /// The same template in Hummingbird's syntax (`:id`, `**`).
    var routerPath: String {
        var parts: [String] = []
        let segments = path.split(separator: "/")
        for (i, seg) in segments.enumerated() {
            if seg.hasPrefix("{") {
                parts.append(catchAll && i == segments.count - 1 ? "**" : ":" + seg.dropFirst().dropLast())
            } else {
                parts.append(String(seg))
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    var pathParameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

final class APIRouteTable: @unchecked Sendable {
    // @unchecked: filled while the router is built, before the server starts; read-only afterwards.
    private(set) var routes: [APIRoute] = []
    let router: Router<AFSRequestContext>

    init(router: Router<AFSRequestContext>) { self.router = router }

    func add(
        _ method: HTTPRequest.Method, _ path: String, _ summary: String, role: Role? = .reader, catchAll: Bool = false,
        body: String? = nil, streaming: Bool = false, response: String? = nil,
        _ handler: @escaping @Sendable (Request, AFSRequestContext) async throws -> Response
    ) {
        let route = APIRoute(method: method, path: path, summary: summary, role: role, catchAll: catchAll, requestBody: body, streaming: streaming, response: response)
        routes.append(route)
        router.on(RouterPath(route.routerPath), method: method, use: handler)
    }

    /// OpenAPI 3.1 for every route in the table.
    func openAPIDocument(version: String) -> [String: Any] {
        var paths: [String: [String: Any]] = [:]
        for r in routes {
            var op: [String: Any] = [
                "summary": r.summary,
                "operationId": r.operationID,
                "responses": [
                    "default": ["description": "error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]],
                    "200": ["description": r.streaming ? "a byte stream" : "success"],
                ],
            ]
            if let response = r.response {
                let name = response.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                let ref: [String: Any] = ["$ref": "#/components/schemas/\(name)"]
                let schema: [String: Any] = response.hasPrefix("[") ? ["type": "array", "items": ref] : ref
                op["responses"] = [
                    "default": ["description": "error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]],
                    "200": ["description": "success", "content": ["application/json": ["schema": schema]]],
                ]
            }
            if r.role != nil { op["security"] = [["bearer": []]] } else { op["security"] = [] as [Any] }
            let params = r.pathParameters.map { name -> [String: Any] in
                ["name": name, "in": "path", "required": true, "schema": ["type": "string"]]
            }
            if !params.isEmpty { op["parameters"] = params }
            if let body = r.requestBody {
                op["requestBody"] = ["required": true, "content": [body: ["schema": body == "application/json" ? ["type": "object"] : ["type": "string", "format": "binary"]]]]
            }
            if let role = r.role { op["x-required-role"] = role.rawValue }
            paths[r.path, default: [:]][r.method.rawValue.lowercased()] = op
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "AetherFS", "version": version, "description": "Copy-on-write sessions, coordination and storage for fleets of coding agents."],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": WireSchemas.all.merging([
                    "Error": [
                        "type": "object", "required": ["error"],
                        "properties": ["error": ["type": "object", "required": ["code", "message"], "properties": ["code": ["type": "string"], "message": ["type": "string"]]]],
                    ] as [String: Any]
                ]) { a, _ in a },
            ],
        ]
    }
}

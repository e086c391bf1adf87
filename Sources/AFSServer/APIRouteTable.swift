import AFSWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// One documented route. Every route is registered through the table, so the OpenAPI document is
/// generated from exactly what the router serves, with the wire types its handler decodes and
/// encodes.
struct APIRoute {
    var method: HTTPRequest.Method
    /// OpenAPI template, e.g. `/v1/sessions/{id}/files/{path}`.
    var path: String
    var summary: String
    /// nil: no authentication.
    var role: Role?
    /// Only the store admin (the server's own admin token, tenant `admin`) may call it, not a
    /// tenant's admins: store-wide maintenance (`x-store-admin` in the document).
    var storeAdmin = false
    /// The last parameter takes the rest of the path (slashes included).
    var catchAll: Bool
    var body: RouteBody?
    var query: [QueryParameter]
    var replies: [RouteReply]
    /// The area of the API (`sessions`, `files`, …): the document's tag, a generated client's module.
    var tag: String

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
    /// The tag of routes added from now on.
    var tag = "service"

    init(router: Router<AFSRequestContext>) { self.router = router }

    func add(
        _ method: HTTPRequest.Method, _ path: String, _ summary: String, role: Role? = .reader, storeAdmin: Bool = false, catchAll: Bool = false,
        body: RouteBody? = nil, query: [QueryParameter] = [], replies: [RouteReply],
        _ handler: @escaping @Sendable (Request, AFSRequestContext) async throws -> Response
    ) {
        let route = APIRoute(
            method: method, path: path, summary: summary, role: role, storeAdmin: storeAdmin, catchAll: catchAll, body: body, query: query, replies: replies,
            tag: tag)
        routes.append(route)
        let single = Set(query.filter { !$0.repeated }.map(\.name))
        router.on(RouterPath(route.routerPath), method: method) { request, context in
            try APIRouteTable.checkQuery(request.uri, single: single)
            return try await handler(request, context)
        }
    }

    /// The longest query string served (414 past it).
    static let maxQueryBytes = 8 << 10

    /// Refuses a query string longer than ``maxQueryBytes`` (414) and a parameter given twice
    /// that the route takes once (400): which of the two was meant is a guess the server does
    /// not make.
    static func checkQuery(_ uri: URI, single: Set<String>) throws(APIError) {
        guard let query = uri.query, !query.isEmpty else { return }
        guard query.utf8.count <= maxQueryBytes else {
            throw APIError(.uriTooLong, "uri_too_long", "the query string is \(query.utf8.count) bytes; at most \(maxQueryBytes) are served")
        }
        let parameters = uri.queryParameters
        for name in single {
            guard parameters.getAll(name).count <= 1 else {
                throw APIError.badRequest("query parameter '\(name)' is given more than once; it takes one value")
            }
        }
    }

    /// OpenAPI 3.1 for every route in the table; every JSON body has a named schema derived from
    /// its wire type.
    func openAPIDocument(version: String) throws -> JSONValue {
        let registry = WireSchemaRegistry()
        let errorSchema = try registry.schema(for: ErrorReply.self)
        var paths: [String: [String: JSONValue]] = [:]
        for r in routes {
            var responses: [String: JSONValue] = [:]
            for reply in r.replies {
                var response: [String: JSONValue] = ["description": .string(reply.description)]
                switch reply.body {
                case .json(let type):
                    response["content"] = ["application/json": ["schema": try registry.schema(for: type)]]
                case .eventStream(let type):
                    // The same route answers a JSON page unless the client asks for a stream.
                    response["content"] = [
                        "application/json": ["schema": ["type": "array", "items": try registry.schema(for: type)]],
                        "text/event-stream": ["schema": ["type": "string"]],
                    ]
                case .bytes(let mediaType):
                    response["content"] = [.init(stringLiteral: mediaType): ["schema": ["type": "string", "format": "binary"]]]
                case .none:
                    break
                }
                responses[String(reply.status)] = .object(response)
            }
            responses["default"] = ["description": "an error (4xx or 5xx): what went wrong and what to do next", "content": ["application/json": ["schema": errorSchema]]]
            var op: [String: JSONValue] = [
                "summary": .string(r.summary),
                "operationId": .string(r.operationID),
                "tags": [.string(r.tag)],
                "responses": .object(responses),
                "security": r.role == nil ? [] : [["bearer": []]],
            ]
            if let role = r.role { op["x-required-role"] = .string(role.rawValue) }
            if r.storeAdmin { op["x-store-admin"] = true }
            var parameters: [JSONValue] = r.pathParameters.map { name in
                var p: [String: JSONValue] = ["name": .string(name), "in": "path", "required": true, "schema": ["type": "string"]]
                if r.catchAll && name == r.pathParameters.last {
                    p["description"] = "A path in the session; its slashes may be sent as they are or percent-encoded."
                }
                return .object(p)
            }
            for q in r.query {
                var p: [String: JSONValue] = ["name": .string(q.name), "in": "query", "required": .bool(q.required), "schema": q.schema, "description": .string(q.description)]
                if q.repeated { p["explode"] = true }
                parameters.append(.object(p))
            }
            if !parameters.isEmpty { op["parameters"] = .array(parameters) }
            switch r.body {
            case .json(let type, let required)?:
                op["requestBody"] = ["required": .bool(required), "content": ["application/json": ["schema": try registry.schema(for: type)]]]
            case .anyJSON(let description)?:
                op["requestBody"] = ["required": true, "description": .string(description), "content": ["application/json": ["schema": [:]]]]
            case .bytes(let mediaTypes, let description)?:
                var content: [String: JSONValue] = [:]
                for m in mediaTypes { content[m] = ["schema": ["type": "string", "format": "binary"]] }
                op["requestBody"] = ["required": true, "description": .string(description), "content": .object(content)]
            case nil:
                break
            }
            paths[r.path, default: [:]][r.method.rawValue.lowercased()] = .object(op)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "AetherFS", "version": .string(version),
                "description": "Copy-on-write sessions, coordination and storage for fleets of coding agents.",
            ],
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": .object(registry.definitions),
            ],
        ]
    }
}

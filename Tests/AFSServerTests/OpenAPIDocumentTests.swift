import AFSServer
import AFSTestSupport
import AFSWire
import Foundation
import Testing

/// The served OpenAPI document describes every body by a named schema derived from the wire
/// types (``AFSWire``), and those schemas say what the types decode.
@Suite struct OpenAPIDocumentTests {
    @Test func everyJSONBodyHasANamedSchemaWithItsRequiredFields() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let doc = try server.request("GET", "/v1/openapi.json", token: "").object()
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        func named(_ schema: [String: Any]?) -> String? {
            guard let schema else { return nil }
            if let ref = schema["$ref"] as? String { return ref.components(separatedBy: "/").last }
            if schema["type"] as? String == "array", let items = schema["items"] as? [String: Any] {
                // An array of plain strings is fully described without a name.
                return items["type"] as? String == "string" ? "[string]" : named(items).map { "[\($0)]" }
            }
            return nil
        }
        var unnamed: [String] = []
        var operations = 0
        for (path, methods) in paths {
            for (method, raw) in methods {
                let op = try #require(raw as? [String: Any])
                operations += 1
                let name = "\(method.uppercased()) \(path)"
                if let body = ((op["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any] {
                    // Bus messages and knowledge values are any JSON document, as documented.
                    let free = (body["schema"] as? [String: Any])?.isEmpty == true && (name.contains("/bus/") || name.contains("/knowledge/"))
                    if named(body["schema"] as? [String: Any]) == nil && !free { unnamed.append("\(name) request") }
                }
                for (status, reply) in op["responses"] as? [String: Any] ?? [:] {
                    guard let json = (((reply as? [String: Any])?["content"] as? [String: Any])?["application/json"]) as? [String: Any] else { continue }
                    if named(json["schema"] as? [String: Any]) == nil && path != "/v1/openapi.json" { unnamed.append("\(name) → \(status)") }
                }
                #expect(op["operationId"] is String && op["tags"] is [String], "\(name)")
            }
        }
        #expect(unnamed == [], "bodies without a named schema")
        #expect(operations >= 70)
        // Required fields are the non-optional properties of the wire types.
        let session = try #require(schemas["SessionInfo"] as? [String: Any])
        #expect(Set(session["required"] as? [String] ?? []) == ["id", "status", "source", "root", "created_at", "updated_at", "journal_generation"])
        #expect(session["additionalProperties"] as? Bool == false)
        let create = try #require(schemas["CreateSessionRequest"] as? [String: Any])
        #expect(create["required"] as? [String] == ["source"])
        let kinds = try #require((schemas["SessionSourceKind"] as? [String: Any])?["enum"] as? [String])
        #expect(kinds == CreateSessionRequest.Source.Kind.allCases.map(\.rawValue))
        let lease = try #require((schemas["Lease"] as? [String: Any])?["properties"] as? [String: Any])
        #expect((lease["token"] as? [String: Any])?["type"] as? String == "integer")
        #expect((lease["expires_at"] as? [String: Any])?["type"] as? String == "number")
        let created = try #require((schemas["SessionInfo"] as? [String: Any])?["properties"] as? [String: Any])
        #expect((created["created_at"] as? [String: Any])?["format"] as? String == "date-time")
    }

    /// A wire type the registry cannot describe fails loudly instead of producing a vague schema.
    @Test func anUndescribableTypeIsAnError() throws {
        struct Validated: Codable, Sendable {
            var value: String
            init(from decoder: any Decoder) throws {
                value = try decoder.singleValueContainer().decode(String.self)
                guard value.count == 3 else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "three letters")) }
            }
        }
        struct Holder: WireModel { var v: Validated? = nil; func encode(to encoder: any Encoder) throws {} ; init(from decoder: any Decoder) throws { v = try decoder.container(keyedBy: K.self).decodeIfPresent(Validated.self, forKey: .v) }; enum K: CodingKey { case v } }
        #expect(throws: WireSchemaError.self) { try WireSchemaRegistry().schema(for: Holder.self) }
        // And a described one round-trips its names.
        let registry = WireSchemaRegistry()
        _ = try registry.schema(for: [LockRequest].self)
        let lock = try #require(registry.definitions["LockRequest"]?.objectValue)
        #expect(lock["required"] == ["path"])
        #expect(lock["properties"]?["ttl"]?["type"] == "number")
    }

    /// The contract check that ``ServerHarness`` runs on every request catches a body that
    /// strays from the document: an undocumented field, a missing one, a wrong type, an unlisted
    /// success status.
    @Test func theContractCheckCatchesWhatStraysFromTheDocument() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let contract = try #require(try server.contract())
        let real = try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]])
        #expect(contract.violations(method: "POST", path: "/v1/sessions", requestJSON: nil, status: 201, contentType: "application/json", body: real.body) == [])
        var object = try real.object()
        object["surprise"] = 1
        object.removeValue(forKey: "root")
        object["journal_generation"] = "one"
        let strayed = try JSONSerialization.data(withJSONObject: object)
        let problems = contract.violations(method: "POST", path: "/v1/sessions", requestJSON: nil, status: 201, contentType: "application/json", body: strayed)
        #expect(problems.contains { $0.contains("\"surprise\" is not in the schema") }, "\(problems)")
        #expect(problems.contains { $0.contains("required \"root\" is missing") }, "\(problems)")
        #expect(problems.contains { $0.contains("journal_generation: expected an integer") }, "\(problems)")
        #expect(!contract.violations(method: "POST", path: "/v1/sessions", requestJSON: nil, status: 200, contentType: "application/json", body: real.body).isEmpty)
        let badRequest = try JSONSerialization.data(withJSONObject: ["source": ["kind": "blank", "colour": "red"]])
        #expect(!contract.violations(method: "POST", path: "/v1/sessions", requestJSON: badRequest, status: 201, contentType: "application/json", body: real.body).isEmpty)
        #expect(contract.operation("GET", "/v1/sessions/import")?.template == "/v1/sessions/{id}")
        #expect(contract.operation("POST", "/v1/sessions/import")?.template == "/v1/sessions/import")
        #expect(contract.operation("GET", "/v1/sessions/s1/files/a/b/c.txt?x=1")?.template == "/v1/sessions/{id}/files/{path}")
    }

    /// A Python client generated from `/v1/openapi.json` by openapi-python-client (PyPI) drives
    /// the session lifecycle through its generated functions and models: create from a tar
    /// upload, write, read, fork, diff, checkpoint, restore, review, promote, a changefeed page.
    @Test(arguments: ServerBackend.allCases) func aGeneratedPythonClientDrivesTheLifecycle(_ backend: ServerBackend) throws {
        let tools = BackendProcess.repositoryRoot + "/.tools/python"
        try #require(FileManager.default.fileExists(atPath: tools + "/openapi_python_client"), "openapi-python-client missing from \(tools): run scripts/bootstrap.sh")
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let document = try server.request("GET", "/v1/openapi.json", token: "")
        let work = server.data + "-python"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try document.body.write(to: URL(fileURLWithPath: work + "/openapi.json"))
        try Data("package_name_override: aetherfs_client\npost_hooks: []\n".utf8).write(to: URL(fileURLWithPath: work + "/config.yml"))
        let generate = try ChildProcess.run(
            "/usr/bin/env", ["PYTHONPATH=\(tools)", "python3", "-m", "openapi_python_client", "generate", "--path", "openapi.json", "--meta", "none", "--config", "config.yml"],
            directory: work, mergeStderr: true)
        let log = String(decoding: generate.stdout, as: UTF8.self)
        #expect(generate.status == 0, "\(log)")
        // The generator only warns about the archive and chunk-record media types it has no model
        // for (it sends and returns those bodies as bytes); anything else is a hole in the document.
        let warnings = log.components(separatedBy: "WARNING").dropFirst().filter {
            !$0.contains("application/x-tar") && !$0.contains("application/vnd.aetherfs.chunks")
        }
        #expect(warnings.isEmpty, "\(log)")
        let run = try ChildProcess.run(
            "/usr/bin/env", ["PYTHONPATH=\(tools)", "python3", BackendProcess.repositoryRoot + "/Tests/Python/openapi_client_flow.py", work, server.base, server.adminToken])
        let out = String(decoding: run.stdout, as: UTF8.self)
        #expect(run.status == 0, "\(out)\n\(String(decoding: run.stderr, as: UTF8.self).suffix(4000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any], "\(out)")
        #expect(seen["imported"] as? String == "py-project")
        #expect(seen["tree"] as? [String] == ["/README.md", "/src", "/src/main.py"])
        #expect(seen["read"] as? String == "X = 1\n")
        #expect((seen["diff"] as? [[String]])?.first == ["/src/main.py", "modified"])
        #expect(seen["restored"] as? String == "print('changed')\n")
        #expect(seen["promote_before_review"] as? Int == 403)
        #expect(seen["promote"] as? [String] == ["created", "fast-forward"])
        #expect(seen["ref_moved"] as? Bool == true)
        #expect(seen["changes"] as? [String] == ["create", "write", "checkpoint", "write", "restore", "commit", "promote"])
    }
}

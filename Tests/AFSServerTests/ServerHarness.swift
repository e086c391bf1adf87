import AFSSupport
import AFSTestSupport
import Foundation
import Synchronization
import Testing

/// The real `afs-server` (a ``ServerProcess`` on free loopback ports, HTTP and gRPC) and an HTTP
/// client for it: AsyncHTTPClient, streaming bodies from and to files. `GRPCTests` use the gRPC port.
final class ServerHarness: @unchecked Sendable {
    // @unchecked: immutable after init; the process is used only by the owning test.
    let server: ServerProcess

    var data: String { server.data }
    var base: String { server.base }
    var grpcPort: Int { server.grpcPort }
    var adminToken: String { server.adminToken }
    /// The CA to trust when the server runs over TLS.
    var caCertificate: String? { server.caCertificate }
    var process: Process { server.process }
    var pid: Int32 { server.pid }

    struct Reply {
        var status: Int
        var body: Data
        var headers: String
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
        func object() throws -> [String: Any] { try #require(try json() as? [String: Any], "not an object: \(text)") }
        func array() throws -> [[String: Any]] { try #require(try json() as? [[String: Any]], "not an array: \(text)") }
        var errorCode: String? {
            let obj = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
            return (obj?["error"] as? [String: Any])?["code"] as? String
        }
    }

    init(data existing: String? = nil, backend: ServerBackend = .embedded, arguments: [String] = [], environment: [String: String] = [:]) throws {
        server = try ServerProcess(data: existing, backend: backend, arguments: arguments, environment: environment)
    }

    /// Whether every request is checked against the served OpenAPI document (``APIContract``).
    /// Tests that send deliberately broken HTTP turn it off for those requests.
    var checksContract = true
    private let contractCache = Locked<APIContract?>(nil)

    /// The server's OpenAPI document, fetched once.
    func contract() throws -> APIContract? {
        if let cached = contractCache.withLock({ $0 }) { return cached }
        let r = try HTTPTestClient.request("GET", base + "/v1/openapi.json")
        guard r.status == 200, let doc = try JSONSerialization.jsonObject(with: r.body) as? [String: Any] else { return nil }
        let contract = APIContract(document: doc)
        contractCache.withLock { $0 = contract }
        return contract
    }

    /// SIGTERM and wait: the graceful path.
    func stop() { server.stop() }

    func cleanup() { server.cleanup() }

    /// Peak resident memory of the server (VmHWM), in bytes.
    func peakRSS() -> Int { server.peakRSS() }

    /// One request through AsyncHTTPClient; `bodyFile` is streamed from disk and `outputFile`
    /// receives the answer's body streamed, so large transfers never sit in memory.
    @discardableResult
    func request(
        _ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil, bodyFile: String? = nil,
        headers: [String: String] = [:], outputFile: String? = nil, timeout: Double = 120
    ) throws -> Reply {
        var h: [(String, String)] = headers.map { ($0.key, $0.value) }
        let auth = token ?? adminToken
        if !auth.isEmpty { h.append(("Authorization", "Bearer \(auth)")) }
        var payload = HTTPTestClient.Body.none
        if let json {
            payload = .data(try JSONSerialization.data(withJSONObject: json))
            h.append(("Content-Type", "application/json"))
        } else if let body {
            payload = .data(body)
        } else if let bodyFile {
            payload = .file(bodyFile)
        }
        let r = try HTTPTestClient.request(method, base + path, headers: h, body: payload, outputFile: outputFile, timeout: timeout)
        if checksContract, outputFile == nil, let contract = try contract() {
            var sent: Data?
            if case .data(let d) = payload, h.contains(where: { $0.0 == "Content-Type" && $0.1 == "application/json" }) { sent = d }
            for problem in contract.violations(method: method, path: path, requestJSON: sent, status: r.status, contentType: r.header("Content-Type"), body: r.body) {
                Issue.record("API contract: \(problem)")
            }
        }
        return Reply(status: r.status, body: r.body, headers: r.headerText)
    }
}

import AFSCore
import AFSTLS
import AFSWorkspaceModel
import AsyncHTTPClient
import AFSWire
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A client of afs-vmd's HTTP API (the workspace VM controller), used by `aether workspace`.
///
/// Synchronous like the rest of the CLI's API; errors come back as the daemon's
/// `WorkspaceError` codes, and a daemon that cannot be reached is `.unavailable`.
public final class WorkspacesClient: @unchecked Sendable {
    // @unchecked: every stored property is immutable; HTTPClient is itself thread-safe.
    /// afs-vmd's base URL, without a trailing slash.
    public let endpoint: String
    let token: String?
    let client: HTTPClient
    let trust: TLSTrust

    /// A client of the afs-vmd at `endpoint`; nothing is sent until the first call.
    ///
    /// - Parameter endpoint: afs-vmd's base URL, `http://` or `https://` (e.g. `http://127.0.0.1:8790`).
    /// - Parameter token: the bearer token afs-vmd wrote to its data directory; nil sends none.
    /// - Parameter trust: for `https://` endpoints, the CAs afs-vmd's certificate must chain to.
    public init(endpoint: String, token: String?, trust: TLSTrust = TLSTrust()) throws(WorkspaceError) {
        var e = endpoint
        while e.hasSuffix("/") { e.removeLast() }
        guard let url = URL(string: e), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw WorkspaceError(.invalidArgument, "workspaces endpoint \(endpoint) is not an http:// or https:// URL, e.g. http://127.0.0.1:8790")
        }
        self.endpoint = e
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(3700))
        configuration.redirectConfiguration = .disallow
        do {
            configuration.tlsConfiguration = try trust.clientConfiguration()
        } catch {
            throw WorkspaceError(.invalidArgument, error.message)
        }
        self.trust = trust
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    deinit { try? client.syncShutdown() }

    // MARK: API

    /// `GET /v1/health`: afs-vmd's liveness and version (no token needed).
    public func health() throws(WorkspaceError) -> [String: String] {
        try decode([String: String].self, try send(.GET, "/v1/health"))
    }

    /// `POST /v1/workspaces`: creates a workspace as `request` describes.
    public func create(_ request: WorkspaceRequest) throws(WorkspaceError) -> Workspace {
        try decode(Workspace.self, try send(.POST, "/v1/workspaces", body: try encode(request)))
    }

    /// `GET /v1/workspaces`: workspaces, only those in `status` and/or of `project` when given.
    public func list(status: WorkspaceStatus? = nil, project: String? = nil) throws(WorkspaceError) -> [Workspace] {
        var query: [(String, String)] = []
        if let status { query.append(("status", status.rawValue)) }
        if let project { query.append(("project", project)) }
        struct List: Decodable { var workspaces: [Workspace] }
        return try decode(List.self, try send(.GET, "/v1/workspaces", query: query)).workspaces
    }

    /// `GET /v1/workspaces/{id}`: one workspace (counts as activity). `.invalidArgument` for a malformed `id`.
    public func get(_ id: String) throws(WorkspaceError) -> Workspace {
        try decode(Workspace.self, try send(.GET, "/v1/workspaces/\(try segment(id))"))
    }

    /// `PATCH /v1/workspaces/{id}`: changes the hardware, idle timeout (seconds) and/or base image
    /// (a version, `current` or `minimal`: a rebase); nil keeps a setting.
    public func update(_ id: String, hardware: HardwareUpdate?, idleTimeout: Int?, image: String? = nil) throws(WorkspaceError) -> Workspace {
        let body = try encode(WorkspaceUpdate(hardware: hardware, idleTimeout: idleTimeout, image: image))
        return try decode(Workspace.self, try send(.PATCH, "/v1/workspaces/\(try segment(id))", body: body))
    }

    /// `POST /v1/workspaces/{id}/start`: starts the workspace; it may come back still `starting`.
    public func start(_ id: String) throws(WorkspaceError) -> Workspace {
        try decode(Workspace.self, try send(.POST, "/v1/workspaces/\(try segment(id))/start"))
    }

    /// `POST /v1/workspaces/{id}/stop`: stops the workspace, returning once it is stopped (or failed to stop).
    public func stop(_ id: String) throws(WorkspaceError) -> Workspace {
        try decode(Workspace.self, try send(.POST, "/v1/workspaces/\(try segment(id))/stop"))
    }

    /// `DELETE /v1/workspaces/{id}`: deletes the workspace and its volume.
    public func delete(_ id: String) throws(WorkspaceError) {
        _ = try send(.DELETE, "/v1/workspaces/\(try segment(id))")
    }

    /// `GET /v1/workspaces/{id}/wait`: blocks until the workspace reaches `state` or `timeout` seconds
    /// (at most 3600) pass (`.timeout`); `.conflict` early when `state` can no longer follow.
    public func wait(_ id: String, for state: WorkspaceStatus, timeout: Double) throws(WorkspaceError) -> Workspace {
        try decode(Workspace.self, try send(.GET, "/v1/workspaces/\(try segment(id))/wait", query: [("state", state.rawValue), ("timeout", String(timeout))]))
    }

    /// `GET /v1/workspaces/{id}/events`: the workspace's state changes, oldest first.
    public func events(_ id: String) throws(WorkspaceError) -> [WorkspaceEvent] {
        struct List: Decodable { var events: [WorkspaceEvent] }
        return try decode(List.self, try send(.GET, "/v1/workspaces/\(try segment(id))/events")).events
    }

    /// `GET /v1/workspaces/{id}/console`: the last `maxBytes` of the console of its current or last run.
    public func console(_ id: String, maxBytes: Int = 64 << 10) throws(WorkspaceError) -> String {
        String(decoding: try send(.GET, "/v1/workspaces/\(try segment(id))/console", query: [("bytes", String(maxBytes))]), as: UTF8.self)
    }

    /// `POST /v1/workspaces/{id}/connect`: how to open a shell in the running workspace (counts as activity).
    public func connect(_ id: String) throws(WorkspaceError) -> ConnectionInfo {
        try decode(ConnectionInfo.self, try send(.POST, "/v1/workspaces/\(try segment(id))/connect"))
    }

    // MARK: Transport

    private func segment(_ id: String) throws(WorkspaceError) -> String {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw WorkspaceError(.invalidArgument, "\(id.debugDescription) is not a workspace id (like ws-abc123)")
        }
        return id
    }

    private func encode<T: Encodable>(_ value: T) throws(WorkspaceError) -> Data {
        do { return try JSONEncoder().encode(value) } catch { throw WorkspaceError(.invalidArgument, "cannot encode the request: \(error)") }
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws(WorkspaceError) -> T {
        do { return try WorkspacesClient.decoder.decode(type, from: data) } catch {
            throw WorkspaceError(.io, "afs-vmd's answer is not what this aether expects: \(error); upgrade aether or afs-vmd")
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Data? = nil) throws(WorkspaceError) -> Data {
        var url = endpoint + path
        if !query.isEmpty {
            url += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let client = self.client
        let prepared = request
        let result: (Int, Data)
        do {
            result = try Blocking.run {
                let response = try await client.execute(prepared, timeout: .seconds(3700))
                let buffer = try await response.body.collect(upTo: 32 << 20)
                return (Int(response.status.code), Data(buffer.readableBytesView))
            }
        } catch {
            if let refusal = RemoteStore.tlsRefusal(error, endpoint: endpoint, trust: trust) {
                throw WorkspaceError(refusal.code == .untrustedServer ? .untrustedServer : .unavailable, refusal.message)
            }
            throw WorkspaceError(.unavailable, "cannot reach afs-vmd at \(endpoint): \(error); is it running? (afs-vmd --listen …, or set --workspaces-endpoint)")
        }
        let (status, data) = result
        guard (200..<300).contains(status) else {
            if let error = (try? JSONDecoder().decode(ErrorReply.self, from: data))?.error {
                let code = WorkspaceError.Code(rawValue: error.code) ?? (status == 401 ? .unauthorized : .io)
                throw WorkspaceError(code, error.message)
            }
            throw WorkspaceError(.io, "afs-vmd answered \(status) to \(method.rawValue) \(path)")
        }
        return data
    }
}

import AFSCore
import Foundation

/// A bearer token as `afs-server` lists it. The secret itself is shown once, when created.
public struct RemoteToken: Sendable, Codable, Equatable {
    public var id: String
    public var tenant: String
    public var role: String
    public var label: String?
    /// Only in the answer to create: the secret to hand to the client.
    public var token: String?
    public var createdAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, tenant, role, label, token
        case createdAt = "created_at"
    }
}

extension RemoteStore {
    /// Creates a token for `tenant` with `role` (reader, writer or admin); needs an admin token.
    public func createToken(tenant: String, role: String, label: String?) throws(AFSError) -> RemoteToken {
        var body: [String: Any] = ["tenant": tenant, "role": role]
        if let label { body["label"] = label }
        return try json(RemoteToken.self, Call(.POST, "/v1/tokens"), body: RemoteStore.jsonBody(body))
    }

    public func tokens() throws(AFSError) -> [RemoteToken] {
        try json([RemoteToken].self, Call(.GET, "/v1/tokens"))
    }

    public func revokeToken(_ id: String) throws(AFSError) {
        _ = try send(Call(.DELETE, "/v1/tokens/\(RemoteStore.escape(id))"))
    }

    /// `GET /v1/health`: reachability and the server's version, without a token.
    public func health() throws(AFSError) -> [String: String] {
        let reply = try send(Call(.GET, "/v1/health"))
        let object = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any] ?? [:]
        return object.mapValues { "\($0)" }
    }
}

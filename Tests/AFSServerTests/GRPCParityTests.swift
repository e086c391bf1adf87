import AFSGRPC
import Foundation
import GRPCCore
import Testing

@testable import AFSServer

/// Every HTTP operation has its gRPC method and every gRPC method its HTTP operation, except the
/// few deliberate, documented ones below. Adding a route or an RPC without its counterpart (or a
/// reason here) fails this test.
@Suite struct GRPCParityTests {
    /// HTTP operation → the gRPC method that does the same.
    static let counterparts: [String: String] = [
        "POST /v1/sessions": "aether.v1.Sessions/Create",
        "POST /v1/sessions/import": "aether.v1.Sessions/ImportTar",
        "GET /v1/sessions": "aether.v1.Sessions/List",
        "GET /v1/sessions/{id}": "aether.v1.Sessions/Get",
        "DELETE /v1/sessions/{id}": "aether.v1.Sessions/Delete",
        "POST /v1/sessions/{id}/archive": "aether.v1.Sessions/Archive",
        "POST /v1/sessions/{id}/fork": "aether.v1.Sessions/Fork",
        "POST /v1/sessions/{id}/checkpoints": "aether.v1.Sessions/Checkpoint",
        "GET /v1/sessions/{id}/checkpoints": "aether.v1.Sessions/ListCheckpoints",
        "POST /v1/sessions/{id}/restore": "aether.v1.Sessions/Restore",
        "POST /v1/sessions/{id}/commits": "aether.v1.Sessions/Commit",
        "POST /v1/sessions/{id}/promote": "aether.v1.Sessions/Promote",
        "GET /v1/sessions/{id}/diff": "aether.v1.Sessions/Diff",
        "GET /v1/sessions/{id}/export": "aether.v1.Sessions/Export",
        "GET /v1/sessions/{id}/manifest": "aether.v1.Sessions/Manifest",
        "GET /v1/refs": "aether.v1.Sessions/ListRefs",
        "GET /v1/refs/{name}/log": "aether.v1.Sessions/Log",
        "GET /v1/commits/{id}": "aether.v1.Sessions/GetCommit",
        "GET /v1/refs/{name}/policy": "aether.v1.Sessions/GetRefPolicy",
        "PUT /v1/refs/{name}/policy": "aether.v1.Sessions/SetRefPolicy",
        "POST /v1/snapshots": "aether.v1.Sessions/CreateSnapshot",
        "GET /v1/snapshots": "aether.v1.Sessions/ListSnapshots",

        "GET /v1/sessions/{id}/files/{path}": "aether.v1.Files/Read",
        "POST /v1/sessions/{id}/read": "aether.v1.Files/ReadMany",
        "PUT /v1/sessions/{id}/files/{path}": "aether.v1.Files/Write",
        "PATCH /v1/sessions/{id}/files/{path}": "aether.v1.Files/Patch",
        "DELETE /v1/sessions/{id}/files/{path}": "aether.v1.Files/Delete",
        "POST /v1/sessions/{id}/chunks/missing": "aether.v1.Files/MissingChunks",
        "POST /v1/sessions/{id}/rename": "aether.v1.Files/Rename",
        "POST /v1/sessions/{id}/mkdir": "aether.v1.Files/Mkdir",
        "POST /v1/sessions/{id}/symlink": "aether.v1.Files/Symlink",
        "POST /v1/sessions/{id}/chmod": "aether.v1.Files/Chmod",
        "POST /v1/sessions/{id}/times": "aether.v1.Files/SetTimes",
        "POST /v1/sessions/{id}/batch": "aether.v1.Files/Batch",
        "POST /v1/sessions/{id}/atimes": "aether.v1.Files/RecordAccessTimes",
        "POST /v1/sessions/{id}/mknod": "aether.v1.Files/Mknod",
        "POST /v1/sessions/{id}/chown": "aether.v1.Files/Chown",
        "POST /v1/sessions/{id}/link": "aether.v1.Files/Link",
        "GET /v1/sessions/{id}/links": "aether.v1.Files/HardLinks",
        "GET /v1/sessions/{id}/xattrs": "aether.v1.Files/GetXattrs",
        "POST /v1/sessions/{id}/xattrs": "aether.v1.Files/SetXattr",
        "DELETE /v1/sessions/{id}/xattrs": "aether.v1.Files/RemoveXattr",
        "GET /v1/sessions/{id}/tree": "aether.v1.Files/List",
        "GET /v1/sessions/{id}/stat/{path}": "aether.v1.Files/Stat",
        "GET /v1/sessions/{id}/stat": "aether.v1.Files/Stat",

        "GET /v1/sessions/{id}/changes": "aether.v1.Coordination/ListChanges",
        "POST /v1/sessions/{id}/bus/{topic}": "aether.v1.Coordination/Publish",
        "GET /v1/sessions/{id}/bus/{topic}": "aether.v1.Coordination/ListMessages",
        "GET /v1/sessions/{id}/bus": "aether.v1.Coordination/ListTopics",
        "POST /v1/sessions/{id}/locks": "aether.v1.Coordination/AcquireLease",
        "GET /v1/sessions/{id}/locks": "aether.v1.Coordination/ListLeases",
        "POST /v1/sessions/{id}/locks/{token}/renew": "aether.v1.Coordination/RenewLease",
        "DELETE /v1/sessions/{id}/locks/{token}": "aether.v1.Coordination/ReleaseLease",
        "POST /v1/sessions/{id}/annotations": "aether.v1.Coordination/Annotate",
        "GET /v1/sessions/{id}/annotations": "aether.v1.Coordination/ListAnnotations",
        "POST /v1/sessions/{id}/review": "aether.v1.Coordination/RequestReview",
        "GET /v1/sessions/{id}/review": "aether.v1.Coordination/GetReview",
        "POST /v1/sessions/{id}/review/approve": "aether.v1.Coordination/Decide",
        "POST /v1/sessions/{id}/review/reject": "aether.v1.Coordination/Decide",
        "POST /v1/sessions/{id}/undo": "aether.v1.Coordination/Undo",
        "GET /v1/knowledge": "aether.v1.Coordination/ListKnowledge",
        "GET /v1/knowledge/{key}": "aether.v1.Coordination/GetKnowledge",
        "PUT /v1/knowledge/{key}": "aether.v1.Coordination/PutKnowledge",
        "DELETE /v1/knowledge/{key}": "aether.v1.Coordination/DeleteKnowledge",
        "GET /v1/sessions/{id}/knowledge": "aether.v1.Coordination/ListKnowledge",
        "GET /v1/sessions/{id}/knowledge/{key}": "aether.v1.Coordination/GetKnowledge",
        "PUT /v1/sessions/{id}/knowledge/{key}": "aether.v1.Coordination/PutKnowledge",
        "DELETE /v1/sessions/{id}/knowledge/{key}": "aether.v1.Coordination/DeleteKnowledge",

        "GET /v1/health": "aether.v1.Service/Health",
        "GET /v1/usage": "aether.v1.Service/Usage",
        "GET /v1/analytics": "aether.v1.Service/Analytics",
        "POST /v1/tokens": "aether.v1.Service/CreateToken",
        "GET /v1/tokens": "aether.v1.Service/ListTokens",
        "DELETE /v1/tokens/{token_id}": "aether.v1.Service/RevokeToken",
        "GET /v1/store/stats": "aether.v1.Service/StoreStats",
        "POST /v1/store/gc": "aether.v1.Service/CollectGarbage",
        "POST /v1/store/verify": "aether.v1.Service/VerifyStore",

        "GET /v1/workspaces": "aether.v1.Workspaces/List",
        "POST /v1/workspaces": "aether.v1.Workspaces/Create",
        "GET /v1/workspaces/{workspace}": "aether.v1.Workspaces/Get",
        "POST /v1/workspaces/{workspace}/start": "aether.v1.Workspaces/Start",
        "POST /v1/workspaces/{workspace}/stop": "aether.v1.Workspaces/Stop",
        "DELETE /v1/workspaces/{workspace}": "aether.v1.Workspaces/Delete",
        "GET /v1/workspaces/{workspace}/events": "aether.v1.Workspaces/Events",
    ]

    /// HTTP only, on purpose: the document that describes the HTTP API (gRPC describes itself by
    /// reflection) and the Prometheus scrape target (Prometheus scrapes HTTP).
    static let httpOnly: Set<String> = ["GET /v1/openapi.json", "GET /metrics"]

    /// gRPC only, on purpose: the live streams that HTTP serves on the same routes as its pages
    /// (Server-Sent Events of `…/changes` and `…/bus/{topic}`), and the protocol services every
    /// gRPC tool expects (health: HTTP has `/v1/health`; reflection: HTTP has `/v1/openapi.json`).
    static let grpcOnly: Set<String> = [
        "aether.v1.Coordination/SubscribeChanges", "aether.v1.Coordination/SubscribeBus",
        "grpc.health.v1.Health/Check", "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]

    /// Every method of every service afs-server registers (``AetherServer/grpcEndpoint(onListening:)``).
    static var grpcMethods: Set<String> {
        let all = Aether_V1_Sessions.Method.descriptors + Aether_V1_Files.Method.descriptors + Aether_V1_Coordination.Method.descriptors
            + Aether_V1_Service.Method.descriptors + Aether_V1_Workspaces.Method.descriptors + Grpc_Health_V1_Health.Method.descriptors
            + Grpc_Reflection_V1_ServerReflection.Method.descriptors + Grpc_Reflection_V1alpha_ServerReflection.Method.descriptors
        return Set(all.map { "\($0.service.fullyQualifiedService)/\($0.method)" })
    }

    @Test func everyHTTPOperationHasItsGRPCMethodAndBack() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString)").path
        let aether = try AetherServer(configuration: .init(dataDirectory: data))
        defer { try? aether.shutdown(); try? FileManager.default.removeItem(atPath: data) }
        let (_, table) = aether.buildRouter()
        let http = Set(table.routes.map { "\($0.method.rawValue) \($0.path)" })
        let methods = Self.grpcMethods
        #expect(http.subtracting(Self.counterparts.keys).subtracting(Self.httpOnly).sorted() == [], "HTTP operations without a gRPC method")
        #expect(Set(Self.counterparts.keys).subtracting(http).sorted() == [], "counterparts of HTTP operations that do not exist")
        #expect(Set(Self.counterparts.values).subtracting(methods).sorted() == [], "gRPC methods named here that the server lacks")
        #expect(methods.subtracting(Self.counterparts.values).subtracting(Self.grpcOnly).sorted() == [], "gRPC methods without an HTTP operation")
        #expect(Self.httpOnly.isSubset(of: http) && Self.grpcOnly.isSubset(of: methods))
    }
}

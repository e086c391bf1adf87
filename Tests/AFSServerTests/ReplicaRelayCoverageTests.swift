import AFSGRPC
import Foundation
import SwiftProtobuf
import Testing

@testable import AFSServer

/// The gRPC relay between replicas finds a call's session through ``SessionScopedMessage``, a list
/// kept by hand. This test keeps it whole: every RPC's request type is listed below, the list must
/// be exactly the request types the protos declare (a new RPC fails until it is added), and a
/// request is session-scoped for the relay exactly when its message (or its stream's header) has a
/// `session` field.
@Suite struct ReplicaRelayCoverageTests {
    static let requests: [any SwiftProtobuf.Message.Type] = [
        Aether_V1_AcquireLeaseRequest.self,
        Aether_V1_AnalyticsRequest.self,
        Aether_V1_AnnotateRequest.self,
        Aether_V1_ArchiveSessionRequest.self,
        Aether_V1_BatchRequest.self,
        Aether_V1_CheckpointRequest.self,
        Aether_V1_ChmodRequest.self,
        Aether_V1_ChownRequest.self,
        Aether_V1_CollectGarbageRequest.self,
        Aether_V1_CommitRequest.self,
        Aether_V1_CreateSessionRequest.self,
        Aether_V1_CreateSnapshotRequest.self,
        Aether_V1_CreateTokenRequest.self,
        Aether_V1_CreateWorkspaceRequest.self,
        Aether_V1_DecideRequest.self,
        Aether_V1_DeleteKnowledgeRequest.self,
        Aether_V1_DeletePathRequest.self,
        Aether_V1_DeleteSessionRequest.self,
        Aether_V1_DiffRequest.self,
        Aether_V1_ExportRequest.self,
        Aether_V1_ForkSessionRequest.self,
        Aether_V1_GetCommitRequest.self,
        Aether_V1_GetKnowledgeRequest.self,
        Aether_V1_GetRefPolicyRequest.self,
        Aether_V1_GetReviewRequest.self,
        Aether_V1_GetSessionRequest.self,
        Aether_V1_GetWorkspaceRequest.self,
        Aether_V1_HealthRequest.self,
        Aether_V1_ImportChunk.self,
        Aether_V1_LinkRequest.self,
        Aether_V1_ListAnnotationsRequest.self,
        Aether_V1_ListChangesRequest.self,
        Aether_V1_ListCheckpointsRequest.self,
        Aether_V1_ListKnowledgeRequest.self,
        Aether_V1_ListLeasesRequest.self,
        Aether_V1_ListMessagesRequest.self,
        Aether_V1_ListRefsRequest.self,
        Aether_V1_ListRequest.self,
        Aether_V1_ListSessionsRequest.self,
        Aether_V1_ListSnapshotsRequest.self,
        Aether_V1_ListTokensRequest.self,
        Aether_V1_ListTopicsRequest.self,
        Aether_V1_ListWorkspacesRequest.self,
        Aether_V1_LogRequest.self,
        Aether_V1_ManifestRequest.self,
        Aether_V1_MissingChunksRequest.self,
        Aether_V1_MkdirRequest.self,
        Aether_V1_MknodRequest.self,
        Aether_V1_PatchRequest.self,
        Aether_V1_PromoteRequest.self,
        Aether_V1_PublishRequest.self,
        Aether_V1_PutKnowledgeRequest.self,
        Aether_V1_ReadRequest.self,
        Aether_V1_ReadManyRequest.self,
        Aether_V1_RecordAccessTimesRequest.self,
        Aether_V1_ReleaseLeaseRequest.self,
        Aether_V1_RemoveXattrRequest.self,
        Aether_V1_RenameRequest.self,
        Aether_V1_RenewLeaseRequest.self,
        Aether_V1_RequestReviewRequest.self,
        Aether_V1_RestoreRequest.self,
        Aether_V1_RevokeTokenRequest.self,
        Aether_V1_SetRefPolicyRequest.self,
        Aether_V1_SetTimesRequest.self,
        Aether_V1_SetXattrRequest.self,
        Aether_V1_StatRequest.self,
        Aether_V1_StoreStatsRequest.self,
        Aether_V1_SubscribeBusRequest.self,
        Aether_V1_SubscribeChangesRequest.self,
        Aether_V1_SymlinkRequest.self,
        Aether_V1_UndoRequest.self,
        Aether_V1_UsageRequest.self,
        Aether_V1_VerifyStoreRequest.self,
        Aether_V1_WriteRequest.self,
    ]

    @Test func everyRequestNamingASessionIsRelayedToItsHolder() throws {
        let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: AetherDescriptorSet.serialized)
        var messages: [String: Google_Protobuf_DescriptorProto] = [:]
        var inputs = Set<String>()
        for file in set.file where file.package == "aether.v1" {
            for message in file.messageType { messages["aether.v1." + message.name] = message }
            for service in file.service {
                for method in service.method { inputs.insert(String(method.inputType.drop(while: { $0 == "." }))) }
            }
        }
        let listed = Dictionary(uniqueKeysWithValues: Self.requests.map { ($0.protoMessageName, $0) })
        #expect(Set(listed.keys) == inputs, "not listed: \(inputs.subtracting(listed.keys).sorted()); not an RPC's request: \(Set(listed.keys).subtracting(inputs).sorted())")

        func namesSession(_ name: String) -> Bool {
            guard let message = messages[name] else { return false }
            if message.field.contains(where: { $0.name == "session" }) { return true }
            // A stream's first message: a header that names the session.
            return message.field.contains { $0.name == "header" && namesSession(String($0.typeName.drop(while: { $0 == "." }))) }
        }
        for (name, type) in listed.sorted(by: { $0.key < $1.key }) {
            let scoped = type is any SessionScopedMessage.Type
            #expect(scoped == namesSession(name), "\(name): session field \(namesSession(name)), relayed by session \(scoped)")
        }
        #expect(listed.values.filter { $0 is any SessionScopedMessage.Type }.count >= 50)
    }
}

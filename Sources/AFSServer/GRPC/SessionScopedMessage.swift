import AFSGRPC

/// A gRPC request about one session: the replica relay (``ReplicaRelayInterceptor``) reads the
/// session from a call's first message to find the replica that holds it.
protocol SessionScopedMessage {
    /// The session the call is about; empty when none (store-wide knowledge, say).
    var relaySession: String { get }
}

extension Aether_V1_WriteRequest: SessionScopedMessage {
    /// The header, first in every write stream, names the session.
    var relaySession: String { header.session }
}

extension Aether_V1_SubscribeChangesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListChangesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_PublishRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_SubscribeBusRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_AcquireLeaseRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RenewLeaseRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ReleaseLeaseRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListLeasesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_AnnotateRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListAnnotationsRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_GetKnowledgeRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_PutKnowledgeRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListKnowledgeRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_DeleteKnowledgeRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListMessagesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListTopicsRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RequestReviewRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_GetReviewRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_DecideRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_UndoRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ReadRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ReadManyRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_StatRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_DeletePathRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RenameRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_MkdirRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_SymlinkRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ChmodRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_SetTimesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_MknodRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ChownRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_LinkRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_SetXattrRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RemoveXattrRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_PatchRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_BatchRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RecordAccessTimesRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_MissingChunksRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_GetSessionRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_DeleteSessionRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ArchiveSessionRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ForkSessionRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_CheckpointRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ListCheckpointsRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_RestoreRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_CommitRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_PromoteRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_DiffRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ManifestRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_ExportRequest: SessionScopedMessage { var relaySession: String { session } }
extension Aether_V1_CreateSnapshotRequest: SessionScopedMessage { var relaySession: String { session } }

import AFSGRPC
import GRPCCore
import SwiftProtobuf

/// `grpc.reflection.v1alpha.ServerReflection`: the same protocol as v1 under its older name, which
/// the Python reflection client and many tools still ask for. Its messages are field for field
/// those of v1, so each request is re-read as v1, answered by ``ReflectionService``, and the answer
/// re-read as v1alpha.
struct ReflectionAlphaService: Grpc_Reflection_V1alpha_ServerReflection.ServiceProtocol {
    let v1: ReflectionService

    func serverReflectionInfo(
        request: StreamingServerRequest<Grpc_Reflection_V1alpha_ServerReflectionRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Grpc_Reflection_V1alpha_ServerReflectionResponse> {
        StreamingServerResponse { writer in
            for try await message in request.messages {
                let asked = try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try message.serializedBytes() as [UInt8])
                let answer = v1.answer(asked)
                try await writer.write(try Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try answer.serializedBytes() as [UInt8]))
            }
            return [:]
        }
    }
}

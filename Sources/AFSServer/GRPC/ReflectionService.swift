import AFSGRPC
import Foundation
import GRPCCore

/// `grpc.reflection.v1.ServerReflection`: lets tools (grpcurl, Postman, Evans) list the services
/// and fetch their descriptors, answered from the descriptor set embedded at generation time
/// (`AetherDescriptorSet`). Open like `/v1/openapi.json`: it describes the API, not any data.
struct ReflectionService: Grpc_Reflection_V1_ServerReflection.ServiceProtocol {
    let index: DescriptorIndex

    init(index: DescriptorIndex) {
        self.index = index
    }

    /// The index of every proto under `Protos/`.
    init() throws {
        self.init(index: try DescriptorIndex(serializedSet: AetherDescriptorSet.serialized))
    }

    func serverReflectionInfo(
        request: StreamingServerRequest<Grpc_Reflection_V1_ServerReflectionRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Grpc_Reflection_V1_ServerReflectionResponse> {
        StreamingServerResponse { writer in
            for try await message in request.messages {
                try await writer.write(answer(message))
            }
            return [:]
        }
    }

    /// The one response to one request of the stream.
    func answer(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
        var response = Grpc_Reflection_V1_ServerReflectionResponse()
        response.validHost = request.host
        response.originalRequest = request
        func files(_ name: String?, _ what: String) {
            if let name, let closure = index.fileWithDependencies(name) {
                var files = Grpc_Reflection_V1_FileDescriptorResponse()
                files.fileDescriptorProto = closure
                response.messageResponse = .fileDescriptorResponse(files)
            } else {
                response.messageResponse = .errorResponse(error(.notFound, "\(what) is not known to this server"))
            }
        }
        switch request.messageRequest {
        case .listServices:
            var list = Grpc_Reflection_V1_ListServiceResponse()
            list.service = index.services.map { name in
                var service = Grpc_Reflection_V1_ServiceResponse()
                service.name = name
                return service
            }
            response.messageResponse = .listServicesResponse(list)
        case .fileByFilename(let name):
            files(name, "file \(name)")
        case .fileContainingSymbol(let symbol):
            files(index.file(containing: symbol), "symbol \(symbol)")
        case .fileContainingExtension(let request):
            // proto3 files declare no extensions.
            response.messageResponse = .errorResponse(
                error(.notFound, "no extension \(request.extensionNumber) of \(request.containingType): this server's protos define no extensions"))
        case .allExtensionNumbersOfType(let type):
            if index.messages.contains(type) {
                var numbers = Grpc_Reflection_V1_ExtensionNumberResponse()
                numbers.baseTypeName = type
                response.messageResponse = .allExtensionNumbersResponse(numbers)
            } else {
                response.messageResponse = .errorResponse(error(.notFound, "message type \(type) is not known to this server"))
            }
        case nil:
            response.messageResponse = .errorResponse(error(.invalidArgument, "the request names no query"))
        }
        return response
    }

    private func error(_ code: RPCError.Code, _ message: String) -> Grpc_Reflection_V1_ErrorResponse {
        var error = Grpc_Reflection_V1_ErrorResponse()
        error.errorCode = Int32(code.rawValue)
        error.errorMessage = message
        return error
    }
}

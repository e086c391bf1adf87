import GRPCCore

/// Turns whatever a service method throws (engine errors, access errors) into an `RPCError` with
/// the right status code, whether it is thrown before the response starts or while a streamed
/// response is being produced. Without it gRPC would report every such error as UNKNOWN.
struct ErrorMappingInterceptor: ServerInterceptor {
    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        var response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            throw RPCError(mapping: error)
        }
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in
                do {
                    return try await producer(writer)
                } catch {
                    throw RPCError(mapping: error)
                }
            }
            response.accepted = .success(contents)
        }
        return response
    }
}

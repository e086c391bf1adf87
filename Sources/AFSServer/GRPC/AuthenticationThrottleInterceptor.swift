import GRPCCore

/// The failed-token throttle (``AuthenticationThrottle``) for gRPC, as HTTP applies it: a peer
/// address that has presented too many tokens that do not authenticate gets RESOURCE_EXHAUSTED
/// (`too_many_failed_authentications`) before its token is looked at; each call that presents a
/// token and ends UNAUTHENTICATED counts against its address. Calls without a token cost nothing.
struct AuthenticationThrottleInterceptor: ServerInterceptor {
    let throttle: AuthenticationThrottle

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let presented = request.metadata[stringValues: RPCCaller.authorizationKey].contains { !$0.isEmpty }
        guard presented else { return try await next(request, context) }
        let address = Self.address(ofPeer: context.remotePeer)
        do {
            try throttle.check(address)
        } catch {
            throw RPCError(code: .resourceExhausted, message: error.message, metadata: [RPCError.errorCodeKey: .string(error.code)])
        }
        do {
            let response = try await next(request, context)
            if case .failure(let failure) = response.accepted, failure.code == .unauthenticated { throttle.failed(address) }
            return response
        } catch let failure as RPCError where failure.code == .unauthenticated {
            throttle.failed(address)
            throw failure
        }
    }

    /// The address in grpc-swift's peer description (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`,
    /// `unix:/path`): the host without the port, or the whole description if it has another form.
    static func address(ofPeer peer: String) -> String {
        if peer.hasPrefix("ipv4:"), let colon = peer.lastIndex(of: ":"), colon > peer.index(peer.startIndex, offsetBy: 4) {
            return String(peer[peer.index(peer.startIndex, offsetBy: 5)..<colon])
        }
        if peer.hasPrefix("ipv6:["), let close = peer.firstIndex(of: "]") {
            return String(peer[peer.index(peer.startIndex, offsetBy: 6)..<close])
        }
        return peer
    }
}

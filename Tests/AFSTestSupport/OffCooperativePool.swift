import AFSCore
import AFSClient
import Testing

/// Runs a suite's tests on threads that may block (``Blocking/executor``) instead of the
/// cooperative pool.
///
/// Synchronous tests block their thread: waiting for a child process, for ``Blocking/run(_:)``,
/// for a mount. The cooperative pool has as many threads as the machine has cores (two here), so
/// two such tests running side by side would hold all of it, and anything else in the process
/// that needs the pool — AsyncHTTPClient streaming a request body, a gRPC client — would stall
/// until one of them finished: minutes, and requests time out. With this trait a test blocks
/// a thread of its own.
public struct OffCooperativePool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(Blocking.executor) { try await function() }
    }
}

extension Trait where Self == OffCooperativePool {
    /// Run the tests on threads that may block, not on the cooperative pool.
    public static var offCooperativePool: Self { OffCooperativePool() }
}

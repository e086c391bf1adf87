import NIOPosix

/// AFSCore calls block (they fsync): run them on the shared thread pool, never on an event loop.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

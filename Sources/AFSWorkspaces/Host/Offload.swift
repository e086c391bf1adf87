import Dispatch

/// Runs blocking host work (process waits, socket reads with timeouts) on a dispatch queue, so
/// the controller's actor never parks one of the cooperative pool's threads (two on this box).
enum Offload {
    private static let queue = DispatchQueue(label: "afs.workspaces.offload", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(WorkspaceError) -> T) async throws(WorkspaceError) -> T {
        let result: Result<T, WorkspaceError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(WorkspaceError) { continuation.resume(returning: .success(try body())) } catch { continuation.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }
}

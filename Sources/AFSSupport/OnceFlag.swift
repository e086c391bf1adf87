import Synchronization

/// A flag raised once, from any thread, and read from any other: a stream's consumer went away,
/// a graceful shutdown began. An `Atomic<Bool>` in a class, so closures and tasks can share it.
public final class OnceFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    public init() {}

    public var isRaised: Bool { raised.load(ordering: .acquiring) }

    public func raise() { raised.store(true, ordering: .releasing) }
}

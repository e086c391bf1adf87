/// What one session holds and what it costs the store (``AetherStore/sessionUsage(_:)``).
public struct SessionUsage: Sendable, Equatable {
    /// Regular files in the session's tree.
    public var files: Int = 0
    /// The sum of their sizes.
    public var logicalBytes: Int64 = 0
    /// Stored bytes of the content the session holds and its parent does not: what it added to
    /// the store (0 for a fresh fork).
    public var physicalBytes: Int64 = 0

    public init(files: Int = 0, logicalBytes: Int64 = 0, physicalBytes: Int64 = 0) {
        self.files = files
        self.logicalBytes = logicalBytes
        self.physicalBytes = physicalBytes
    }
}

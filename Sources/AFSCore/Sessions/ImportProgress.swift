import Foundation

/// Progress of a long import, reported every few hundred files.
public struct ImportProgress: Sendable {
    /// Regular files imported so far.
    public var files: Int
    /// Total size in bytes of those files' contents.
    public var bytes: Int64

    /// Progress after `files` files holding `bytes` bytes of content.
    public init(files: Int, bytes: Int64) {
        self.files = files
        self.bytes = bytes
    }
}

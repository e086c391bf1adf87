import Foundation

/// Progress of a long import, reported every few hundred files.
public struct ImportProgress: Sendable {
    public var files: Int
    public var bytes: Int64

    public init(files: Int, bytes: Int64) {
        self.files = files
        self.bytes = bytes
    }
}

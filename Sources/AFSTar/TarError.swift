import Foundation

// MARK: - Errors

/// A malformed archive, a misuse of the writer, or an I/O failure.
package struct TarError: Error, Sendable, CustomStringConvertible {
    package let message: String
    /// Byte offset in the stream of the offending header (or, for I/O
    /// failures, of the position where the failure happened).
    package let offset: Int64

    package init(message: String, offset: Int64) {
        self.message = message
        self.offset = offset
    }

    package var description: String {
        "tar: \(message) (at byte offset \(offset))"
    }
}

import Foundation

/// A forward-only stream of bytes.
package protocol TarByteSource {
    /// Returns up to `maxLength` bytes (at least one), or `[]` only at end of
    /// stream.
    mutating func read(maxLength: Int) throws -> [UInt8]
}

import Foundation

// MARK: - In-memory implementations

/// Serves bytes from an in-memory array (mainly for tests).
package struct ArrayByteSource: TarByteSource, Sendable {
    private let bytes: [UInt8]
    private var position = 0

    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    package mutating func read(maxLength: Int) throws -> [UInt8] {
        let n = min(max(maxLength, 0), bytes.count - position)
        if n == 0 { return [] }
        let result = Array(bytes[position ..< position + n])
        position += n
        return result
    }
}

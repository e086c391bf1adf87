import Foundation

/// Collects written bytes in memory (mainly for tests).
package struct ArrayByteSink: TarByteSink, Sendable {
    package var bytes: [UInt8]

    package init() {
        self.bytes = []
    }

    package mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }
}

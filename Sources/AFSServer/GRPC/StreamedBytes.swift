/// The bytes of a client stream whose first message was already read (for its header fields):
/// that message's bytes, then every later message's, as one sequence of byte arrays, for
/// ``HTTPHelpers/pipeBody(_:maxBytes:consumer:)``.
struct StreamedBytes<Base: AsyncIteratorProtocol>: AsyncSequence {
    typealias Element = [UInt8]

    var first: [UInt8]
    var rest: Base
    let bytes: (Base.Element) -> [UInt8]

    struct AsyncIterator: AsyncIteratorProtocol {
        var first: [UInt8]?
        var rest: Base
        let bytes: (Base.Element) -> [UInt8]

        mutating func next() async throws -> [UInt8]? {
            if let pending = first {
                first = nil
                return pending
            }
            return try await rest.next().map(bytes)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(first: first, rest: rest, bytes: bytes) }
}

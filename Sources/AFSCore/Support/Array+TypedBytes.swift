extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for closures with typed throws (the standard one only rethrows `any Error`).
    /// Do not escape the pointer.
    @inlinable
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(AFSError) -> R) throws(AFSError) -> R {
        do {
            return try withUnsafeBytes { try body($0) }
        } catch let error as AFSError {
            throw error
        } catch {
            preconditionFailure("unreachable: body throws only AFSError")
        }
    }
}

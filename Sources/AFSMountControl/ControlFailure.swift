/// A failure a mount reports on its control socket: an `AFSError` code (its raw value) and a
/// message that says what to do.
public struct ControlFailure: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

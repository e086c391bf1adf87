/// The one error shape of the HTTP API: `{"error": {"code": "...", "message": "..."}}`.
public struct ErrorReply: WireModel, Equatable {
    public struct Detail: WireModel, Equatable {
        /// Stable and machine-readable (`not_found`, `conflict`, `unauthorized`, …).
        public var code: String
        /// For people: what went wrong and what to do next.
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }

        public static var wireName: String { "ErrorDetail" }
    }

    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }

    public static var wireName: String { "Error" }
}

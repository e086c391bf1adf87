/// `POST /v1/sessions/{id}/commits`. The author defaults to the caller (X-AFS-Actor or tenant).
public struct CommitRequest: WireModel, Equatable {
    public var message: String
    public var author: String?

    public init(message: String, author: String? = nil) {
        self.message = message
        self.author = author
    }
}

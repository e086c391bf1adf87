import Foundation

/// What became of one ``BatchChange``: done (with the entry's metadata once the whole batch is
/// applied, for anything but a removal), or refused, with the error its own call would have raised.
public struct BatchOutcome: Sendable, Codable, Equatable {
    /// The change's path exactly as it was sent.
    public var path: String
    /// The entry after the batch (nil for a removal, and for a refused change).
    public var stat: FileStat?
    /// Why the change was refused: an ``AFSError/Code`` raw value and its message.
    public var code: String?
    /// The refusal's human-readable message; nil when the change was applied.
    public var message: String?

    /// An outcome for `path`: applied (with `stat`, if any) when `error` is nil, refused otherwise.
    public init(path: String, stat: FileStat? = nil, error: AFSError? = nil) {
        self.path = path
        self.stat = stat
        code = error?.code.rawValue
        message = error?.message
    }

    /// The refusal, if the change was refused.
    public var error: AFSError? {
        guard let code else { return nil }
        return AFSError(AFSError.Code(rawValue: code) ?? .io, message ?? code)
    }
}

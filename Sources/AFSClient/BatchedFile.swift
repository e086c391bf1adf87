import AFSCore

/// One file of a batched read (``AetherService/readFiles(_:paths:each:)``): which file it is, and
/// its bytes, streamed once into a descriptor.
///
/// It is valid only inside the `each` call that receives it: the bytes are read from the answer
/// as they arrive (remote) or from one snapshot of the file (embedded). Not copying them is fine;
/// the read skips to the next file.
public struct BatchedFile {
    /// The file's path in the session, normalized (`/src/main.c`).
    public let path: String
    /// Its size in bytes: what ``copy(to:)`` writes.
    public let size: UInt64
    private let copier: (Int32) throws(AFSError) -> Void

    init(path: String, size: UInt64, copier: @escaping (Int32) throws(AFSError) -> Void) {
        self.path = path
        self.size = size
        self.copier = copier
    }

    /// Writes the file's bytes into `fd` at its current offset; at most once.
    public func copy(to fd: Int32) throws(AFSError) {
        try copier(fd)
    }
}

import Synchronization

/// Counters of a ``RemoteStore``'s chunked uploads: how many there were, the bytes they sent and
/// the bytes they did not have to send because the server had those chunks.
public final class ChunkStatistics: Sendable {
    private let uploads = Atomic<Int>(0)
    private let sent = Atomic<Int>(0)
    private let reused = Atomic<Int>(0)

    init() {}

    func record(sent s: Int, reused r: Int) {
        uploads.add(1, ordering: .relaxed)
        sent.add(s, ordering: .relaxed)
        reused.add(r, ordering: .relaxed)
    }

    /// Files uploaded chunk by chunk.
    public var uploadCount: Int { uploads.load(ordering: .relaxed) }
    /// Bytes of chunks sent.
    public var bytesSent: Int { sent.load(ordering: .relaxed) }
    /// Bytes of the uploaded files that stayed home: chunks the server already had.
    public var bytesReused: Int { reused.load(ordering: .relaxed) }
}

import AFSTar

/// A pax tar archive of files, produced a piece at a time: the answer of a batched read
/// (`POST /v1/sessions/{id}/read`, a mount's readahead), many small files in one response
/// instead of a request each.
///
/// Files come in the order given, each named by its path without the leading slash
/// (`src/main.c`), with its mode and modification time. They come from
/// ``AetherStore/openFiles(_:paths:)``, which opens them all from one version of the session
/// before the first byte is produced, so a bad request is refused before a success status goes
/// out. A piece holds whole small files up to about ``pieceSize`` bytes; a larger file is read in
/// windows of that size, so memory stays flat whatever the files' sizes. Producing pieces in the
/// caller's own loop (rather than a thread writing into a pipe) costs a server nothing per
/// request beyond the reads: a batch of small files is one piece and one write.
///
/// One caller at a time: it is a cursor.
public final class FileArchive: @unchecked Sendable {
    // @unchecked: a cursor used by one task at a time (each `next` after the previous returned).
    /// About how many bytes one piece holds.
    public let pieceSize: Int
    private var files: ArraySlice<FileSnapshot>
    private var writer = TarWriter(sink: ArrayByteSink())
    /// The file being written and how much of it is.
    private var current: (file: FileSnapshot, offset: UInt64)?
    /// Whether the end of the archive has been produced (the last piece may still be unread).
    public private(set) var isComplete = false

    public init(_ files: [FileSnapshot], pieceSize: Int = 1 << 20) {
        self.files = files[...]
        self.pieceSize = max(pieceSize, 64 << 10)
    }

    /// The next piece of the archive, never empty; nil once all of it was returned.
    public func next() throws(AFSError) -> [UInt8]? {
        guard !isComplete else { return nil }
        do {
            while writer.withSink({ $0.bytes.count }) < pieceSize {
                if let (file, offset) = current {
                    if offset < file.size {
                        let bytes = try file.read(offset: offset, length: min(UInt64(pieceSize), file.size - offset))
                        guard !bytes.isEmpty else { throw AFSError(.corrupted, "\(file.path) ended at byte \(offset) of \(file.size)") }
                        try writer.writeContent(bytes)
                        current = (file, offset + UInt64(bytes.count))
                    } else {
                        try writer.endEntry()
                        current = nil
                    }
                } else if let file = files.popFirst() {
                    try writer.beginEntry(
                        TarEntry(path: String(file.path.dropFirst()), kind: .file, mode: file.mode, mtime: file.mtime / 1_000_000_000, size: Int64(file.size)))
                    current = (file, 0)
                } else {
                    try writer.finish()
                    isComplete = true
                    break
                }
            }
        } catch let e as AFSError {
            throw e
        } catch {
            throw AFSError(.io, "writing the archive failed: \(error)")
        }
        return writer.withSink { sink in
            defer { sink.bytes.removeAll(keepingCapacity: true) }
            return sink.bytes
        }
    }
}

import Glibc

/// The store's decoders of bytes read from disk or from the network, for the fuzz targets
/// (`AFSFuzz`, `scripts/fuzz.sh`): each takes arbitrary bytes and must return or throw, never
/// crash, hang or allocate past the limits the format declares.
package enum DecoderEntryPoints {
    /// A chunk-log record as stored: header, checksum, decompression, identity.
    package static func record(_ bytes: [UInt8]) {
        _ = ChunkRecord.decode(bytes)
    }

    /// A record past its checksum (which random bytes never pass): the header's lengths and the
    /// decompression of its payload.
    package static func recordPayload(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            guard case .header(let header) = RecordCodec.decodeHeader(buffer),
                buffer.count >= RecordCodec.headerSize + header.storedLength
            else { return }
            _ = RecordCodec.payload(buffer, header: header)
        }
    }

    /// A tree node, a tree value (entry attributes) and a file's chunk list.
    package static func treeRecords(_ bytes: [UInt8]) {
        _ = try? ProllyNode.decode(bytes)
        _ = try? TreeValue.decode(bytes)
        _ = try? ChunkList.decode(bytes)
    }

    /// The records of a session journal, one after another, as replay reads them.
    package static func journal(_ bytes: [UInt8]) {
        var reader = BinaryReader(bytes)
        for _ in 0..<10_000 {
            guard reader.offset < bytes.count, (try? SessionJournal.decodeRecord(&reader, session: "ses_fuzz")) != nil else { return }
        }
    }

    /// A session path as clients send it.
    package static func sessionPath(_ bytes: [UInt8]) {
        _ = try? SessionPath(String(decoding: bytes, as: UTF8.self))
    }

    /// The chunk index checkpoint file. Its body is what the fuzzer varies: the entry point seals
    /// it with the checksum a real checkpoint carries, so the parser past the checksum is reached.
    package static func indexCheckpoint(_ bytes: [UInt8]) {
        var sealed = bytes
        let sum = ContentHash.xxh3(bytes)
        withUnsafeBytes(of: sum.littleEndian) { sealed.append(contentsOf: $0) }
        _ = IndexCheckpoint.decode(sealed)
        _ = IndexCheckpoint.decode(bytes)
        // Format 2: the first 88 bytes sealed as a header, the rest sealed as its tables, with
        // a file size that agrees with the header (so the table checks are reached too).
        var head = Array(bytes.prefix(88))
        head.append(contentsOf: [UInt8](repeating: 0, count: 88 - head.count))
        let tablesAt = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 56, as: UInt64.self)) }
        withUnsafeBytes(of: ContentHash.xxh3(head).littleEndian) { head.append(contentsOf: $0) }
        var tables = Array(bytes.dropFirst(88))
        withUnsafeBytes(of: ContentHash.xxh3(tables).littleEndian) { tables.append(contentsOf: $0) }
        let size = Int64(exactly: tablesAt).flatMap { $0.addingReportingOverflow(Int64(tables.count)).overflow ? nil : $0 + Int64(tables.count) } ?? 0
        _ = ChunkIndexFile.parse(header: head, fileSize: size) { (count, _) throws(AFSError) in Array(tables.prefix(count)) }
    }

    /// A segment file as recovery and verify scan it: record after record from the header on,
    /// and, at the first bad one, the valid records after it and their sync epochs (a torn or
    /// reordered tail, or damage).
    package static func segment(_ bytes: [UInt8], scratch: String) {
        let path = scratch + "/segment-\(getpid())"
        guard let file = try? POSIXFile.open(path, flags: O_RDWR | O_CREAT | O_TRUNC, mode: 0o600) else { return }
        defer { unlink(path) }
        guard (try? file.write(bytes, at: 0)) != nil else { return }
        var reader = SegmentReader(file: file, size: Int64(bytes.count))
        var offset = ChunkLog.segmentHeaderSize
        for _ in 0..<100_000 {
            guard let item = try? reader.record(at: offset) else { return }
            switch item {
            case .end:
                return
            case .bad:
                if let after = try? reader.validRecords(after: offset) { _ = ChunkLog.unsyncedTail(after) }
                return
            case .record(let header, let total):
                _ = try? reader.payload(at: offset, header: header)
                offset += Int64(total)
            }
        }
    }

    /// The body of a chunked upload (`application/vnd.aetherfs.chunks`), arriving in uneven pieces
    /// as a network delivers it.
    package static func chunkedBody(_ bytes: [UInt8]) {
        var decoder = ChunkedContent.Decoder()
        var rest = bytes[...]
        var piece = 1
        while true {
            let take = rest.prefix(piece)
            rest = rest.dropFirst(take.count)
            decoder.push(take)
            do {
                while try decoder.next() != nil {}
            } catch {
                return
            }
            if rest.isEmpty { break }
            piece = piece * 3 + 1
        }
        _ = decoder.hasPartialRecord
    }
}

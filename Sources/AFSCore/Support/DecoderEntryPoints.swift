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
}

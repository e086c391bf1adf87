// Streaming tar reader: ustar, GNU and v7 headers, pax extended headers,
// GNU long names / long links, base-256 numeric fields.

import Foundation

/// Reads a tar archive sequentially from a `TarByteSource`.
///
/// Usage:
/// ```
/// var reader = TarReader(source: FileDescriptorByteSource(fd: fd))
/// while let entry = try reader.next() {
///     while case let piece = try reader.readContent(maxLength: 1 << 20), !piece.isEmpty { ... }
/// }
/// ```
/// Memory use is bounded by the 64 KiB read buffer, the size of extended
/// headers (capped), and whatever `maxLength` the caller asks content in.
package struct TarReader<Source: TarByteSource> {
    /// Size of the refill requests made to the source.
    package static var chunkSize: Int { 64 * 1024 }
    /// Upper bound for a single direct content read, whatever `maxLength` says.
    package static var maxDirectRead: Int { 4 * 1024 * 1024 }
    /// Upper bound for pax / GNU long-name payloads held in memory.
    package static var maxMetadataSize: Int64 { 16 * 1024 * 1024 }

    private var source: Source
    /// Read-ahead buffer; `buffer[position...]` are the unconsumed bytes.
    private var buffer: [UInt8] = []
    private var position = 0
    /// Stream offset of `buffer[position]`.
    private var streamOffset: Int64 = 0
    /// Source returned end of stream.
    private var sourceExhausted = false

    /// Unread content bytes of the current `.file` entry.
    private var contentRemaining: Int64 = 0
    /// Bytes to discard before the next header (non-file data and padding).
    private var skipRemaining: Int64 = 0
    /// Offset of the current entry's header (for error reporting).
    private var entryHeaderOffset: Int64 = 0
    /// End of archive reached; `next()` keeps returning nil.
    private var finished = false

    package init(source: Source) {
        self.source = source
    }

    // MARK: Public API

    /// Next entry header, or nil at end of archive.
    package mutating func next() throws -> TarEntry? {
        if finished { return nil }
        try skip(contentRemaining + skipRemaining)
        contentRemaining = 0
        skipRemaining = 0

        var pax = PaxOverrides()
        var longName: String?
        var longLink: String?

        while true {
            let headerOffset = streamOffset
            guard let header = try readHeaderBlock() else {
                // Clean EOF on a block boundary.
                if pax.isEmpty && longName == nil && longLink == nil {
                    finished = true
                    return nil
                }
                throw TarError(message: "archive ends after an extended header", offset: headerOffset)
            }
            if header.allSatisfy({ $0 == 0 }) {
                if pax.isEmpty && longName == nil && longLink == nil {
                    try consumeSecondEndBlock()
                    finished = true
                    return nil
                }
                throw TarError(message: "end-of-archive block after an extended header", offset: headerOffset)
            }
            let fields = try HeaderFields(header, offset: headerOffset)
            let typeflag = header[TarHeaderLayout.typeflag]

            switch typeflag {
            case UInt8(ascii: "x"):
                let payload = try readMetadata(size: fields.size, headerOffset: headerOffset)
                try pax.merge(records: payload, headerOffset: headerOffset)
                continue
            case UInt8(ascii: "g"):
                // Global pax headers are ignored, per the engine's contract.
                try skip(fields.size + TarHeaderLayout.padding(for: fields.size), headerOffset: headerOffset)
                continue
            case UInt8(ascii: "L"):
                let payload = try readMetadata(size: fields.size, headerOffset: headerOffset)
                longName = decodeString(cString(payload[...]))
                continue
            case UInt8(ascii: "K"):
                let payload = try readMetadata(size: fields.size, headerOffset: headerOffset)
                longLink = decodeString(cString(payload[...]))
                continue
            default:
                break
            }

            entryHeaderOffset = headerOffset
            return try makeEntry(
                header: header,
                fields: fields,
                pax: pax,
                longName: longName,
                longLink: longLink,
                headerOffset: headerOffset
            )
        }
    }

    /// Reads the current entry's content in pieces of at most `maxLength`
    /// bytes; returns `[]` once the content is exhausted.
    package mutating func readContent(maxLength: Int) throws -> [UInt8] {
        guard contentRemaining > 0, maxLength > 0 else { return [] }
        let wanted = Int(min(Int64(maxLength), contentRemaining))

        let available = buffer.count - position
        if available > 0 {
            let n = min(wanted, available)
            let piece = Array(buffer[position ..< position + n])
            consumeBuffered(n)
            contentRemaining -= Int64(n)
            return piece
        }

        if wanted >= Self.chunkSize {
            // Large request and nothing buffered: hand the source's array
            // straight to the caller without copying it through the buffer.
            let request = min(wanted, Self.maxDirectRead)
            var piece = try readFromSource(maxLength: request)
            if piece.isEmpty {
                throw truncatedContentError()
            }
            if piece.count > request {
                // A source that over-delivers: keep the excess buffered.
                buffer = Array(piece[request...])
                position = 0
                piece.removeSubrange(request...)
            }
            streamOffset += Int64(piece.count)
            contentRemaining -= Int64(piece.count)
            return piece
        }

        guard try refill() else {
            throw truncatedContentError()
        }
        let n = min(wanted, buffer.count - position)
        let piece = Array(buffer[position ..< position + n])
        consumeBuffered(n)
        contentRemaining -= Int64(n)
        return piece
    }

    // MARK: Entry construction

    private mutating func makeEntry(
        header: [UInt8],
        fields: HeaderFields,
        pax: PaxOverrides,
        longName: String?,
        longLink: String?,
        headerOffset: Int64
    ) throws -> TarEntry {
        let typeflag = header[TarHeaderLayout.typeflag]

        var rawPath: String
        if let path = pax.path {
            rawPath = path
        } else if let longName {
            rawPath = longName
        } else {
            let name = cString(header[field: TarHeaderLayout.name])
            let prefix = fields.format == .posix ? cString(header[field: TarHeaderLayout.prefix]) : []
            rawPath = prefix.isEmpty ? decodeString(name) : decodeString(prefix + [UInt8(ascii: "/")] + name)
        }

        let storedSize = pax.size ?? fields.size
        if storedSize < 0 {
            throw TarError(message: "negative entry size", offset: headerOffset)
        }

        let kind: TarEntryKind
        switch typeflag {
        case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
            // Old archives mark directories with a trailing slash only.
            kind = rawPath.hasSuffix("/") && typeflag != UInt8(ascii: "7") ? .directory : .file
        case UInt8(ascii: "5"):
            kind = .directory
        case UInt8(ascii: "2"):
            kind = .symlink
        case UInt8(ascii: "1"):
            kind = .hardlink
        case UInt8(ascii: "6"):
            // Our writer stores sockets as FIFOs marked with a pax record.
            kind = pax.isSocket ? .socket : .fifo
        case UInt8(ascii: "3"):
            kind = .characterDevice
        case UInt8(ascii: "4"):
            kind = .blockDevice
        default:
            kind = .other
        }

        // Entry types that never carry data blocks, whatever the size field says.
        let carriesNoData: Bool
        switch typeflag {
        case UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4"),
             UInt8(ascii: "5"), UInt8(ascii: "6"):
            carriesNoData = true
        default:
            carriesNoData = kind == .directory
        }
        let dataSize: Int64 = carriesNoData ? 0 : storedSize

        var linkTarget: String?
        if kind == .symlink || kind == .hardlink {
            if let link = pax.linkpath {
                linkTarget = link
            } else if let longLink {
                linkTarget = longLink
            } else {
                linkTarget = decodeString(cString(header[field: TarHeaderLayout.linkname]))
            }
        }

        while rawPath.count > 1 && rawPath.hasSuffix("/") {
            rawPath.removeLast()
        }

        // Owner: pax records win over the header; a header value that does
        // not fit a uid_t is treated like a blank field (nil).
        let uid = pax.uid ?? fields.uid.flatMap { UInt32(exactly: $0) }
        let gid = pax.gid ?? fields.gid.flatMap { UInt32(exactly: $0) }

        var deviceMajor: UInt32 = 0
        var deviceMinor: UInt32 = 0
        if kind == .characterDevice || kind == .blockDevice {
            let headerMajor = fields.devmajor.flatMap { UInt32(exactly: $0) }
            let headerMinor = fields.devminor.flatMap { UInt32(exactly: $0) }
            deviceMajor = pax.devmajor ?? headerMajor ?? 0
            deviceMinor = pax.devminor ?? headerMinor ?? 0
        }

        if kind == .file {
            contentRemaining = dataSize
            skipRemaining = TarHeaderLayout.padding(for: dataSize)
        } else {
            contentRemaining = 0
            skipRemaining = dataSize + TarHeaderLayout.padding(for: dataSize)
        }

        return TarEntry(
            path: rawPath,
            kind: kind,
            mode: UInt32(truncatingIfNeeded: fields.mode) & 0o7777,
            mtime: pax.mtime ?? fields.mtime,
            size: kind == .file ? dataSize : 0,
            linkTarget: linkTarget,
            uid: uid,
            gid: gid,
            deviceMajor: deviceMajor,
            deviceMinor: deviceMinor,
            xattrs: pax.xattrs
        )
    }

    // MARK: Buffering

    /// Reads one 512-byte block. Returns nil on clean EOF before any byte of
    /// it; throws on EOF inside it.
    private mutating func readHeaderBlock() throws -> [UInt8]? {
        let blockSize = TarHeaderLayout.blockSize
        while buffer.count - position < blockSize {
            if try !refill() {
                if buffer.count - position == 0 { return nil }
                throw TarError(
                    message: "truncated header (\(buffer.count - position) of \(blockSize) bytes)",
                    offset: streamOffset
                )
            }
        }
        let block = Array(buffer[position ..< position + blockSize])
        consumeBuffered(blockSize)
        return block
    }

    /// After a zero block, consume the second end-of-archive block if it is
    /// there. A lone zero block followed by EOF is accepted as the end too.
    private mutating func consumeSecondEndBlock() throws {
        let blockSize = TarHeaderLayout.blockSize
        while buffer.count - position < blockSize {
            if try !refill() { return }
        }
        if buffer[position ..< position + blockSize].allSatisfy({ $0 == 0 }) {
            consumeBuffered(blockSize)
        }
    }

    /// Reads the (padded) payload of a pax / GNU metadata entry.
    private mutating func readMetadata(size: Int64, headerOffset: Int64) throws -> [UInt8] {
        if size < 0 || size > Self.maxMetadataSize {
            throw TarError(message: "extended header of \(size) bytes is out of range", offset: headerOffset)
        }
        let total = Int(size + TarHeaderLayout.padding(for: size))
        while buffer.count - position < total {
            if try !refill() {
                throw TarError(message: "archive truncated inside an extended header", offset: headerOffset)
            }
        }
        let payload = Array(buffer[position ..< position + Int(size)])
        consumeBuffered(total)
        return payload
    }

    /// Discards `count` bytes of the stream.
    private mutating func skip(_ count: Int64, headerOffset: Int64? = nil) throws {
        var remaining = count
        let buffered = Int64(buffer.count - position)
        if buffered > 0 && remaining > 0 {
            let n = Int(min(buffered, remaining))
            consumeBuffered(n)
            remaining -= Int64(n)
        }
        while remaining > 0 {
            let request = Int(min(remaining, Int64(Self.maxDirectRead)))
            let piece = try readFromSource(maxLength: request)
            if piece.isEmpty {
                throw TarError(
                    message: "archive truncated: \(remaining) bytes of entry data or padding missing",
                    offset: headerOffset ?? entryHeaderOffset
                )
            }
            if piece.count > request {
                buffer = Array(piece[request...])
                position = 0
                streamOffset += Int64(request)
                remaining = 0
            } else {
                streamOffset += Int64(piece.count)
                remaining -= Int64(piece.count)
            }
        }
    }

    /// Appends one chunk from the source to the buffer. Returns false at EOF.
    private mutating func refill() throws -> Bool {
        let chunk = try readFromSource(maxLength: Self.chunkSize)
        if chunk.isEmpty { return false }
        if position == buffer.count {
            buffer = chunk
        } else {
            buffer.removeSubrange(0 ..< position)
            buffer.append(contentsOf: chunk)
        }
        position = 0
        return true
    }

    private mutating func readFromSource(maxLength: Int) throws -> [UInt8] {
        if sourceExhausted { return [] }
        let chunk = try source.read(maxLength: maxLength)
        if chunk.isEmpty { sourceExhausted = true }
        return chunk
    }

    private mutating func consumeBuffered(_ count: Int) {
        position += count
        streamOffset += Int64(count)
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
    }

    private func truncatedContentError() -> TarError {
        TarError(
            message: "archive truncated: \(contentRemaining) bytes of entry content missing at offset \(streamOffset)",
            offset: entryHeaderOffset
        )
    }
}

extension TarReader: Sendable where Source: Sendable {}

// MARK: - Header field parsing

private enum HeaderFormat {
    case posix, gnu, v7
}

/// Numeric fields of a checksum-verified header block.
private struct HeaderFields {
    package let format: HeaderFormat
    package let mode: Int64
    package let size: Int64
    package let mtime: Int64
    /// Owner and group. Parsed leniently: nil when blank or malformed, since
    /// some writers leave them empty and a bad owner is no reason to reject
    /// the archive (mode / size / mtime stay strict: they shape the stream).
    package let uid: Int64?
    package let gid: Int64?
    /// Device numbers, read only for '3' / '4' entries with a ustar or GNU
    /// header (v7 has no such fields); nil otherwise or when blank / malformed.
    package let devmajor: Int64?
    package let devminor: Int64?

    package init(_ header: [UInt8], offset: Int64) throws {
        let stored = header[field: TarHeaderLayout.checksum]
        guard let expected = parseOctal(stored) else {
            throw TarError(message: "unparsable header checksum", offset: offset)
        }
        let sums = header.withUnsafeBytes { TarHeaderLayout.checksums(of: $0) }
        if expected != sums.unsigned && expected != sums.signed {
            throw TarError(
                message: "header checksum mismatch (stored \(expected), computed \(sums.unsigned))",
                offset: offset
            )
        }

        // "ustar\0" + version: POSIX (has a prefix field). "ustar  \0" or
        // any other "ustar" variant: GNU (no prefix field). Otherwise v7.
        let magicStart = TarHeaderLayout.magic.offset
        if header[magicStart ..< magicStart + 5].elementsEqual("ustar".utf8) {
            format = header[magicStart + 5] == 0 ? .posix : .gnu
        } else {
            format = .v7
        }

        func number(_ field: (offset: Int, length: Int), _ name: String) throws -> Int64 {
            guard let value = parseNumeric(header[field: field]) else {
                throw TarError(message: "invalid \(name) field", offset: offset)
            }
            return value
        }
        mode = try number(TarHeaderLayout.mode, "mode")
        size = try number(TarHeaderLayout.size, "size")
        mtime = try number(TarHeaderLayout.mtime, "mtime")
        uid = parseOptionalNumeric(header[field: TarHeaderLayout.uid])
        gid = parseOptionalNumeric(header[field: TarHeaderLayout.gid])

        let typeflag = header[TarHeaderLayout.typeflag]
        let isDevice = typeflag == UInt8(ascii: "3") || typeflag == UInt8(ascii: "4")
        if isDevice && format != .v7 {
            devmajor = parseOptionalNumeric(header[field: TarHeaderLayout.devmajor])
            devminor = parseOptionalNumeric(header[field: TarHeaderLayout.devminor])
        } else {
            devmajor = nil
            devminor = nil
        }
    }
}

/// `parseNumeric` for fields a writer may leave out: nil when the field is
/// blank (only spaces / NULs) or malformed.
private func parseOptionalNumeric(_ field: ArraySlice<UInt8>) -> Int64? {
    if field.allSatisfy({ $0 == 0x20 || $0 == 0 }) { return nil }
    return parseNumeric(field)
}

/// Parses an octal field (optionally space/NUL padded on both sides) or a
/// GNU base-256 field. Returns nil when malformed or out of range.
private func parseNumeric(_ field: ArraySlice<UInt8>) -> Int64? {
    guard let first = field.first else { return 0 }
    if first & 0x80 != 0 {
        return parseBase256(field)
    }
    return parseOctal(field)
}

private func parseOctal(_ field: ArraySlice<UInt8>) -> Int64? {
    var index = field.startIndex
    while index < field.endIndex && (field[index] == 0x20 || field[index] == 0) {
        index += 1
    }
    var value: Int64 = 0
    while index < field.endIndex {
        let byte = field[index]
        if byte == 0x20 || byte == 0 { break }
        guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "7") else { return nil }
        guard value <= (Int64.max >> 3) else { return nil }
        value = (value << 3) | Int64(byte - UInt8(ascii: "0"))
        index += 1
    }
    return value
}

/// GNU base-256: big-endian two's complement; the first byte's top bit is the
/// marker (0x80 positive, 0xff negative).
private func parseBase256(_ field: ArraySlice<UInt8>) -> Int64? {
    guard let first = field.first else { return 0 }
    let negative = first & 0x40 != 0
    let invert: UInt8 = negative ? 0xff : 0
    var magnitude: UInt64 = 0
    for (i, raw) in field.enumerated() {
        var byte = raw ^ invert
        if i == 0 { byte &= 0x7f }
        if magnitude >> 56 != 0 { return nil }
        magnitude = (magnitude << 8) | UInt64(byte)
    }
    if magnitude >> 63 != 0 { return nil }
    let value = Int64(magnitude)
    return negative ? ~value : value
}

// MARK: - Pax extended headers

/// Values from the 'x' headers preceding one entry. `next()` starts every
/// entry with a fresh instance, so nothing leaks from one entry to the next
/// (global 'g' headers are ignored altogether).
private struct PaxOverrides {
    package var path: String?
    package var linkpath: String?
    package var size: Int64?
    package var mtime: Int64?
    package var uid: UInt32?
    package var gid: UInt32?
    /// `SCHILY.devmajor` / `SCHILY.devminor` (pax has no standard key).
    package var devmajor: UInt32?
    package var devminor: UInt32?
    /// `AETHER.filetype=socket`: the '6' entry is a socket, not a FIFO.
    package var isSocket = false
    /// Extended attributes by full name, values as raw bytes.
    package var xattrs: [String: [UInt8]] = [:]
    /// Any 'x' header was seen (even one setting only ignored keys).
    package var seen = false

    /// GNU tar / star form: raw value bytes.
    private static let schilyXattrPrefix: [UInt8] = Array("SCHILY.xattr.".utf8)
    /// libarchive form: URL-encoded name, base64 value.
    private static let libarchiveXattrPrefix = "LIBARCHIVE.xattr."

    package var isEmpty: Bool { !seen }

    /// Parses "LEN key=value\n" records and applies the keys we honour.
    package mutating func merge(records: [UInt8], headerOffset: Int64) throws {
        seen = true
        func fail(_ why: String) -> TarError {
            TarError(message: "malformed pax extended header: \(why)", offset: headerOffset)
        }
        var index = 0
        while index < records.count {
            // Some writers pad the payload with NULs.
            if records[index] == 0 { break }
            let start = index
            var length = 0
            while index < records.count && records[index] != 0x20 {
                let byte = records[index]
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                    throw fail("bad record length")
                }
                length = length * 10 + Int(byte - UInt8(ascii: "0"))
                guard length <= records.count else { throw fail("record length out of range") }
                index += 1
            }
            guard index < records.count, length > index - start + 1 else {
                throw fail("bad record length")
            }
            let end = start + length
            guard end <= records.count, records[end - 1] == 0x0a else {
                throw fail("record not newline-terminated")
            }
            let body = records[(index + 1) ..< (end - 1)]
            guard let equals = body.firstIndex(of: UInt8(ascii: "=")) else {
                throw fail("record without '='")
            }
            let keyBytes = body[body.startIndex ..< equals]
            let valueBytes = body[(equals + 1)...]
            try apply(keyBytes: keyBytes, value: valueBytes, fail: fail)
            index = end
        }
    }

    private mutating func apply(
        keyBytes: ArraySlice<UInt8>,
        value: ArraySlice<UInt8>,
        fail: (String) -> TarError
    ) throws {
        // Attribute names are byte strings: take them from the raw key so a
        // non-UTF-8 name is kept (as ISO 8859-1) rather than mangled. An
        // empty value is a valid, empty attribute (not "unset" as for the
        // standard keys).
        if keyBytes.starts(with: Self.schilyXattrPrefix) {
            let nameBytes = decodeGnuXattrName(keyBytes.dropFirst(Self.schilyXattrPrefix.count))
            guard !nameBytes.isEmpty else { throw fail("empty xattr name") }
            xattrs[decodeString(nameBytes)] = Array(value)
            return
        }

        let key = String(decoding: keyBytes, as: UTF8.self)
        if key.hasPrefix(Self.libarchiveXattrPrefix) {
            let encodedName = String(key.dropFirst(Self.libarchiveXattrPrefix.count))
            guard let name = encodedName.removingPercentEncoding, !name.isEmpty else {
                throw fail("invalid LIBARCHIVE.xattr name")
            }
            // libarchive omits the trailing "=" padding that Foundation's
            // decoder insists on.
            var text = String(decoding: value, as: UTF8.self)
            let remainder = text.utf8.count % 4
            if remainder != 0 {
                text += String(repeating: "=", count: 4 - remainder)
            }
            guard let decoded = Data(base64Encoded: text) else {
                throw fail("invalid LIBARCHIVE.xattr value")
            }
            xattrs[name] = [UInt8](decoded)
            return
        }

        switch key {
        case "path":
            path = value.isEmpty ? nil : decodeString(value)
        case "linkpath":
            linkpath = value.isEmpty ? nil : decodeString(value)
        case "size":
            if value.isEmpty { size = nil; return }
            guard let parsed = Int64(String(decoding: value, as: UTF8.self)), parsed >= 0 else {
                throw fail("invalid size")
            }
            size = parsed
        case "mtime":
            if value.isEmpty { mtime = nil; return }
            let text = String(decoding: value, as: UTF8.self)
            let whole = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if whole.isEmpty || whole == "-" {
                mtime = 0
            } else {
                guard let parsed = Int64(whole) else { throw fail("invalid mtime") }
                mtime = parsed
            }
        case "uid":
            uid = try Self.parseID(value, fail: fail, what: "uid")
        case "gid":
            gid = try Self.parseID(value, fail: fail, what: "gid")
        case "SCHILY.devmajor":
            devmajor = try Self.parseID(value, fail: fail, what: "devmajor")
        case "SCHILY.devminor":
            devminor = try Self.parseID(value, fail: fail, what: "devminor")
        case "AETHER.filetype":
            isSocket = value.elementsEqual("socket".utf8)
        default:
            break
        }
    }

    /// Decimal `UInt32` value of a numeric record; nil (fall back to the
    /// header) for an empty value, which unsets the key.
    private static func parseID(
        _ value: ArraySlice<UInt8>,
        fail: (String) -> TarError,
        what: String
    ) throws -> UInt32? {
        if value.isEmpty { return nil }
        guard let parsed = UInt32(String(decoding: value, as: UTF8.self)) else {
            throw fail("invalid \(what)")
        }
        return parsed
    }
}

/// Undoes GNU tar's encoding of xattr names in `SCHILY.xattr.` keywords:
/// "%3D" is "=" (a raw "=" would end the keyword) and "%25" is "%". Nothing
/// else is decoded, matching GNU tar; star writes names unencoded.
private func decodeGnuXattrName(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    var result: [UInt8] = []
    result.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index < bytes.endIndex {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%") && bytes.endIndex - index >= 3 {
            let high = bytes[index + 1]
            let low = bytes[index + 2]
            if high == UInt8(ascii: "3") && low == UInt8(ascii: "D") {
                result.append(UInt8(ascii: "="))
                index += 3
                continue
            }
            if high == UInt8(ascii: "2") && low == UInt8(ascii: "5") {
                result.append(UInt8(ascii: "%"))
                index += 3
                continue
            }
        }
        result.append(byte)
        index += 1
    }
    return result
}

// MARK: - Byte helpers

extension Array where Element == UInt8 {
    fileprivate subscript(field field: (offset: Int, length: Int)) -> ArraySlice<UInt8> {
        self[field.offset ..< field.offset + field.length]
    }
}

/// The bytes up to (not including) the first NUL.
private func cString(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    if let nul = bytes.firstIndex(of: 0) {
        return bytes[bytes.startIndex ..< nul]
    }
    return bytes
}

/// UTF-8 when valid, otherwise ISO 8859-1 so no byte is lost silently.
private func decodeString<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    if let text = String(validating: bytes, as: UTF8.self) {
        return text
    }
    return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
}

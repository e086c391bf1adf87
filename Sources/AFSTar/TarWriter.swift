// Streaming tar writer: ustar headers, with pax extended headers for the
// values ustar cannot represent.

import Foundation

/// Writes a tar archive sequentially to a `TarByteSink`.
///
/// Call `beginEntry`, `writeContent` (files only, exactly `entry.size` bytes
/// in total), `endEntry` for each member, then `finish`. Small writes are
/// batched in a 64 KiB buffer that is flushed to the sink at every
/// `endEntry` and at `finish`; large content writes go straight through.
package struct TarWriter<Sink: TarByteSink> {
    /// Output batching threshold.
    package static var bufferSize: Int { 64 * 1024 }
    /// Largest value an 11-digit octal field can hold (8 GiB - 1).
    package static var maxOctal11: Int64 { 0o77777777777 }
    /// Largest value a 7-digit octal field (uid, gid, devmajor, devminor)
    /// can hold. Larger values go to pax records instead of base-256, which
    /// not every reader understands in these fields.
    package static var maxOctal7: Int64 { 0o7777777 }

    private(set) var sink: Sink
    /// Bytes accepted but not yet handed to the sink.
    private var pending: [UInt8] = []
    /// Stream offset of the next byte to be produced (including `pending`).
    private var offset: Int64 = 0
    private var current: OpenEntry?
    private var finished = false

    private struct OpenEntry {
        var headerOffset: Int64
        var expected: Int64
        var written: Int64
    }

    package init(sink: Sink) {
        self.sink = sink
        pending.reserveCapacity(Self.bufferSize)
    }

    // MARK: Public API

    /// Writes the header (preceded by a pax 'x' header when needed). An entry
    /// still open is ended first (which throws if its content is incomplete).
    package mutating func beginEntry(_ entry: TarEntry) throws {
        if finished {
            throw TarError(message: "archive already finished", offset: offset)
        }
        if current != nil {
            try endEntry()
        }
        let headerOffset = offset

        func fail(_ message: String) -> TarError {
            TarError(message: "\(message) for entry \"\(entry.path)\"", offset: headerOffset)
        }

        guard !entry.path.isEmpty else { throw fail("empty path") }
        var name = Array(entry.path.utf8)
        guard !name.contains(0) else { throw fail("NUL byte in path") }
        if entry.kind == .directory && name.last != UInt8(ascii: "/") {
            name.append(UInt8(ascii: "/"))
        }

        let typeflag: UInt8
        switch entry.kind {
        case .file: typeflag = UInt8(ascii: "0")
        case .directory: typeflag = UInt8(ascii: "5")
        case .symlink: typeflag = UInt8(ascii: "2")
        case .hardlink: typeflag = UInt8(ascii: "1")
        case .fifo: typeflag = UInt8(ascii: "6")
        case .socket:
            // Tar has no socket type; GNU tar and bsdtar cannot archive
            // sockets at all. We write a FIFO plus the pax record
            // `AETHER.filetype=socket` (added below): other readers see a
            // FIFO, ours restores the socket.
            typeflag = UInt8(ascii: "6")
        case .characterDevice: typeflag = UInt8(ascii: "3")
        case .blockDevice: typeflag = UInt8(ascii: "4")
        case .other: throw fail("cannot write entries of kind .other")
        }

        var link: [UInt8] = []
        if entry.kind == .symlink || entry.kind == .hardlink {
            guard let target = entry.linkTarget, !target.isEmpty else {
                throw fail("missing link target")
            }
            link = Array(target.utf8)
            guard !link.contains(0) else { throw fail("NUL byte in link target") }
        }

        let size: Int64 = entry.kind == .file ? entry.size : 0
        guard size >= 0 else { throw fail("negative size") }

        // Validate attribute names before anything is written, so a bad
        // entry leaves the archive untouched.
        let xattrNames = entry.xattrs.keys.sorted()
        for xattrName in xattrNames {
            guard !xattrName.isEmpty else { throw fail("empty extended attribute name") }
            guard !xattrName.utf8.contains(0) else { throw fail("NUL byte in extended attribute name") }
        }

        var pax: [(key: String, value: [UInt8])] = []

        // Name: plain, ustar prefix/name split, or pax `path`.
        var nameField: ArraySlice<UInt8>
        var prefixField: ArraySlice<UInt8> = []
        if name.count <= TarHeaderLayout.name.length {
            nameField = name[...]
        } else if let split = ustarSplit(name) {
            prefixField = name[..<split]
            nameField = name[(split + 1)...]
        } else {
            pax.append(("path", name))
            nameField = fallbackName(name, isDirectory: entry.kind == .directory)
        }

        var linkField: ArraySlice<UInt8> = link[...]
        if link.count > TarHeaderLayout.linkname.length {
            pax.append(("linkpath", link))
            linkField = utf8Prefix(link, maxBytes: TarHeaderLayout.linkname.length)
        }

        if size > Self.maxOctal11 {
            pax.append(("size", decimal(size)))
        }
        if entry.mtime < 0 || entry.mtime > Self.maxOctal11 {
            pax.append(("mtime", decimal(entry.mtime)))
        }

        // Owner: a value too large for the octal field goes to the standard
        // pax `uid` / `gid` record, with 0 in the header. nil means "not
        // given" and is written as 0.
        var uidField = Int64(entry.uid ?? 0)
        if uidField > Self.maxOctal7 {
            pax.append(("uid", decimal(uidField)))
            uidField = 0
        }
        var gidField = Int64(entry.gid ?? 0)
        if gidField > Self.maxOctal7 {
            pax.append(("gid", decimal(gidField)))
            gidField = 0
        }

        // Device numbers, for device entries only. pax has no standard key
        // for them; like star, GNU tar and bsdtar we use `SCHILY.devmajor` /
        // `SCHILY.devminor` for values the octal fields cannot hold.
        var devmajorField: Int64 = 0
        var devminorField: Int64 = 0
        if entry.kind == .characterDevice || entry.kind == .blockDevice {
            devmajorField = Int64(entry.deviceMajor)
            if devmajorField > Self.maxOctal7 {
                pax.append(("SCHILY.devmajor", decimal(devmajorField)))
                devmajorField = 0
            }
            devminorField = Int64(entry.deviceMinor)
            if devminorField > Self.maxOctal7 {
                pax.append(("SCHILY.devminor", decimal(devminorField)))
                devminorField = 0
            }
        }

        if entry.kind == .socket {
            pax.append(("AETHER.filetype", Array("socket".utf8)))
        }

        // Extended attributes as GNU tar --xattrs writes them: one
        // `SCHILY.xattr.<name>=<raw bytes>` record each, in a stable order.
        for xattrName in xattrNames {
            if let value = entry.xattrs[xattrName] {
                pax.append(("SCHILY.xattr." + encodeXattrName(xattrName), value))
            }
        }

        if !pax.isEmpty {
            let payload = paxPayload(pax)
            let paxName = paxHeaderName(for: name)
            let paxHeader = makeHeader(
                name: paxName,
                prefix: [],
                mode: 0o644,
                size: Int64(payload.count),
                mtime: min(max(entry.mtime, 0), Self.maxOctal11),
                typeflag: UInt8(ascii: "x"),
                linkname: [],
                uid: 0,
                gid: 0,
                devmajor: 0,
                devminor: 0
            )
            try emit(paxHeader)
            try emit(payload)
            try emitZeros(Int(TarHeaderLayout.padding(for: Int64(payload.count))))
        }

        let header = makeHeader(
            name: nameField,
            prefix: prefixField,
            mode: entry.mode & 0o7777,
            size: size,
            mtime: entry.mtime,
            typeflag: typeflag,
            linkname: linkField,
            uid: uidField,
            gid: gidField,
            devmajor: devmajorField,
            devminor: devminorField
        )
        try emit(header)
        current = OpenEntry(headerOffset: headerOffset, expected: size, written: 0)
    }

    /// Content bytes of the current file entry. Writing more than
    /// `entry.size` bytes in total throws immediately (nothing is written).
    package mutating func writeContent(_ bytes: UnsafeRawBufferPointer) throws {
        guard var open = current else {
            throw TarError(message: "writeContent without an open entry", offset: offset)
        }
        if bytes.isEmpty { return }
        if Int64(bytes.count) > open.expected - open.written {
            throw TarError(
                message: "content exceeds the declared size of \(open.expected) bytes",
                offset: open.headerOffset
            )
        }
        if bytes.count >= Self.bufferSize / 2 {
            try flush()
            try sink.write(bytes)
        } else {
            pending.append(contentsOf: bytes)
            if pending.count >= Self.bufferSize {
                try flush()
            }
        }
        offset += Int64(bytes.count)
        open.written += Int64(bytes.count)
        current = open
    }

    package mutating func writeContent(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeContent($0) }
    }

    /// Pads the entry to a 512-byte boundary and flushes. Throws (leaving the
    /// entry open) if fewer than `entry.size` bytes were written.
    package mutating func endEntry() throws {
        guard let open = current else {
            throw TarError(message: "endEntry without an open entry", offset: offset)
        }
        if open.written != open.expected {
            throw TarError(
                message: "entry content is \(open.written) bytes but \(open.expected) were declared",
                offset: open.headerOffset
            )
        }
        try emitZeros(Int(TarHeaderLayout.padding(for: open.expected)))
        current = nil
        try flush()
    }

    /// Runs `body` on the sink between writes: an in-memory sink is drained this way while the
    /// archive is still being written (everything before the last `endEntry`, and content
    /// written in pieces of at least half ``bufferSize``, has reached it).
    package mutating func withSink<R>(_ body: (inout Sink) throws -> R) rethrows -> R {
        try body(&sink)
    }

    /// Ends any open entry and writes the two zero end blocks. Idempotent.
    package mutating func finish() throws {
        if finished { return }
        if current != nil {
            try endEntry()
        }
        try emitZeros(2 * TarHeaderLayout.blockSize)
        try flush()
        finished = true
    }

    // MARK: Output

    private mutating func emit<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        offset += Int64(bytes.count)
        if pending.count >= Self.bufferSize {
            try flush()
        }
    }

    private mutating func emitZeros(_ count: Int) throws {
        if count > 0 {
            try emit(repeatElement(UInt8(0), count: count))
        }
    }

    private mutating func flush() throws {
        if pending.isEmpty { return }
        try pending.withUnsafeBytes { try sink.write($0) }
        pending.removeAll(keepingCapacity: true)
    }
}

extension TarWriter: Sendable where Sink: Sendable {}

// MARK: - Header construction

/// Builds a ustar header block with empty uname/gname. `uid`, `gid`,
/// `devmajor` and `devminor` must fit their 7-digit octal fields (the caller
/// moves larger values to pax records).
private func makeHeader(
    name: ArraySlice<UInt8>,
    prefix: ArraySlice<UInt8>,
    mode: UInt32,
    size: Int64,
    mtime: Int64,
    typeflag: UInt8,
    linkname: ArraySlice<UInt8>,
    uid: Int64,
    gid: Int64,
    devmajor: Int64,
    devminor: Int64
) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: TarHeaderLayout.blockSize)

    func put<C: Collection>(_ bytes: C, _ field: (offset: Int, length: Int)) where C.Element == UInt8 {
        precondition(bytes.count <= field.length, "tar header field overflow")
        var index = field.offset
        for byte in bytes {
            header[index] = byte
            index += 1
        }
    }

    put(name, TarHeaderLayout.name)
    put(octal(Int64(mode), width: TarHeaderLayout.mode.length), TarHeaderLayout.mode)
    put(octal(uid, width: TarHeaderLayout.uid.length), TarHeaderLayout.uid)
    put(octal(gid, width: TarHeaderLayout.gid.length), TarHeaderLayout.gid)
    put(numeric(size, width: TarHeaderLayout.size.length), TarHeaderLayout.size)
    put(numeric(mtime, width: TarHeaderLayout.mtime.length), TarHeaderLayout.mtime)
    header[TarHeaderLayout.typeflag] = typeflag
    put(linkname, TarHeaderLayout.linkname)
    put(TarHeaderLayout.posixMagic, TarHeaderLayout.magic)
    put(TarHeaderLayout.posixVersion, TarHeaderLayout.version)
    put(octal(devmajor, width: TarHeaderLayout.devmajor.length), TarHeaderLayout.devmajor)
    put(octal(devminor, width: TarHeaderLayout.devminor.length), TarHeaderLayout.devminor)
    put(prefix, TarHeaderLayout.prefix)

    let sum = header.withUnsafeBytes { TarHeaderLayout.checksums(of: $0) }.unsigned
    // Six octal digits, NUL, space (the traditional layout).
    var checksum = Array(octal(sum, width: 7))
    checksum.append(0x20)
    put(checksum, TarHeaderLayout.checksum)
    return header
}

/// Zero-padded octal digits filling `width - 1` bytes, then NUL.
/// The caller guarantees the value fits.
private func octal(_ value: Int64, width: Int) -> [UInt8] {
    let digits = Array(String(value, radix: 8).utf8)
    precondition(value >= 0 && digits.count <= width - 1, "value does not fit an octal field")
    var field = [UInt8](repeating: UInt8(ascii: "0"), count: width - 1 - digits.count)
    field.append(contentsOf: digits)
    field.append(0)
    return field
}

/// Octal when the value fits, otherwise GNU base-256 (big-endian two's
/// complement, marker bit set in the first byte).
private func numeric(_ value: Int64, width: Int) -> [UInt8] {
    let octalDigits = width - 1
    if value >= 0 && value < (Int64(1) << (3 * Int64(octalDigits))) {
        return octal(value, width: width)
    }
    var field = [UInt8](repeating: value < 0 ? 0xff : 0x00, count: width)
    var remaining = UInt64(bitPattern: value)
    for index in stride(from: width - 1, through: max(width - 8, 0), by: -1) {
        field[index] = UInt8(truncatingIfNeeded: remaining)
        remaining >>= 8
    }
    field[0] |= 0x80
    return field
}

/// Index of the "/" at which `name` can be split into a ustar prefix
/// (<= 155 bytes) and name (1...100 bytes), or nil.
private func ustarSplit(_ name: [UInt8]) -> Int? {
    let maxPrefix = TarHeaderLayout.prefix.length
    let maxName = TarHeaderLayout.name.length
    guard name.count <= maxPrefix + 1 + maxName else { return nil }
    // The earliest valid split keeps the name part as long as possible;
    // any valid split is correct.
    for index in name.indices where name[index] == UInt8(ascii: "/") {
        let nameLength = name.count - index - 1
        if index > maxPrefix { break }
        // The name part must not be empty (a directory's trailing "/" is no
        // split point) and neither may the prefix.
        if nameLength <= maxName && nameLength > 0 && index > 0 {
            return index
        }
    }
    return nil
}

/// Longest prefix of `bytes` with at most `maxBytes` bytes that does not cut a
/// UTF-8 sequence.
private func utf8Prefix(_ bytes: [UInt8], maxBytes: Int) -> ArraySlice<UInt8> {
    if bytes.count <= maxBytes { return bytes[...] }
    var end = maxBytes
    // Back off continuation bytes (10xxxxxx) so the cut lands on a scalar start.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1
    }
    return bytes[..<end]
}

/// Name stored in the ustar header of an entry whose real path lives in a pax
/// record (for readers that ignore pax).
private func fallbackName(_ name: [UInt8], isDirectory: Bool) -> ArraySlice<UInt8> {
    let limit = TarHeaderLayout.name.length
    if !isDirectory {
        return utf8Prefix(name, maxBytes: limit)
    }
    var truncated = Array(utf8Prefix(name, maxBytes: limit - 1))
    if truncated.last != UInt8(ascii: "/") {
        truncated.append(UInt8(ascii: "/"))
    }
    return truncated[...]
}

/// "PaxHeaders/<last path component>", truncated to the name field.
private func paxHeaderName(for name: [UInt8]) -> ArraySlice<UInt8> {
    var trimmed = name[...]
    while trimmed.count > 1 && trimmed.last == UInt8(ascii: "/") {
        trimmed = trimmed.dropLast()
    }
    let base: ArraySlice<UInt8>
    if let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) {
        base = trimmed[(slash + 1)...]
    } else {
        base = trimmed
    }
    let full = Array("PaxHeaders/".utf8) + base
    return utf8Prefix(full, maxBytes: TarHeaderLayout.name.length)
}

/// Encodes pax records "LEN key=value\n", where LEN counts the bytes of the
/// whole record including its own digits. Values are raw bytes: extended
/// attribute values are binary and must not go through a String.
private func paxPayload(_ records: [(key: String, value: [UInt8])]) -> [UInt8] {
    var payload: [UInt8] = []
    for record in records {
        let body = record.key.utf8.count + record.value.count + 3  // " ", "=", "\n"
        var length = body + String(body).utf8.count
        while body + String(length).utf8.count != length {
            length = body + String(length).utf8.count
        }
        payload.append(contentsOf: String(length).utf8)
        payload.append(UInt8(ascii: " "))
        payload.append(contentsOf: record.key.utf8)
        payload.append(UInt8(ascii: "="))
        payload.append(contentsOf: record.value)
        payload.append(UInt8(ascii: "\n"))
    }
    return payload
}

/// Decimal digits of `value`, as a pax record value.
private func decimal(_ value: Int64) -> [UInt8] {
    Array(String(value).utf8)
}

/// Extended attribute name as a pax keyword suffix. A raw "=" would end the
/// keyword, so GNU tar writes "=" as "%3D" and (to keep that reversible) "%"
/// as "%25"; nothing else is encoded. The reader undoes exactly this.
private func encodeXattrName(_ name: String) -> String {
    var encoded = ""
    encoded.reserveCapacity(name.utf8.count)
    for character in name.unicodeScalars {
        switch character {
        case "=": encoded += "%3D"
        case "%": encoded += "%25"
        default: encoded.unicodeScalars.append(character)
        }
    }
    return encoded
}

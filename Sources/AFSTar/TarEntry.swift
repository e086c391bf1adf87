// Shared types for the streaming tar reader and writer: entries, errors, and
// the byte source / sink abstractions (with file-descriptor and in-memory
// implementations).

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Entries

/// The kind of object a tar entry describes.
enum TarEntryKind: Sendable, Equatable {
    case file
    case directory
    case symlink
    case hardlink
    /// Named pipe (typeflag '6').
    case fifo
    /// Unix domain socket. Tar has no type for it: the writer stores a FIFO
    /// plus the pax record `AETHER.filetype=socket`, which the reader honours.
    case socket
    /// Character device (typeflag '3'); see `deviceMajor` / `deviceMinor`.
    case characterDevice
    /// Block device (typeflag '4'); see `deviceMajor` / `deviceMinor`.
    case blockDevice
    /// GNU sparse files, volume labels, and unknown types this engine does not
    /// materialise. Their content (if any) is skipped.
    case other
}

/// One member of a tar archive, as seen by `TarReader` or handed to `TarWriter`.
struct TarEntry: Sendable, Equatable {
    /// Path as stored in the archive, after applying pax `path` / GNU long
    /// names. Trailing "/" is stripped when reading; the writer adds one for
    /// directories.
    var path: String
    var kind: TarEntryKind
    /// Permission bits only (including setuid/setgid/sticky, i.e. `& 0o7777`).
    var mode: UInt32
    /// Modification time, whole seconds since the epoch.
    var mtime: Int64
    /// Content size in bytes; 0 for anything but `.file`.
    var size: Int64
    /// Symlink / hardlink target.
    var linkTarget: String?
    /// Numeric owner. nil means "not given": the writer stores 0, and the
    /// reader reports nil when the archive's field is blank or unparsable.
    var uid: UInt32? = nil
    /// Numeric group; same convention as `uid`.
    var gid: UInt32? = nil
    /// Device numbers of `.characterDevice` / `.blockDevice` entries; 0 for
    /// every other kind.
    var deviceMajor: UInt32 = 0
    var deviceMinor: UInt32 = 0
    /// Extended attributes by full name (e.g. "user.foo"). Values are raw
    /// bytes: attributes are binary and need not be valid UTF-8.
    var xattrs: [String: [UInt8]] = [:]

    init(
        path: String,
        kind: TarEntryKind,
        mode: UInt32,
        mtime: Int64,
        size: Int64 = 0,
        linkTarget: String? = nil,
        uid: UInt32? = nil,
        gid: UInt32? = nil,
        deviceMajor: UInt32 = 0,
        deviceMinor: UInt32 = 0,
        xattrs: [String: [UInt8]] = [:]
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.mtime = mtime
        self.size = size
        self.linkTarget = linkTarget
        self.uid = uid
        self.gid = gid
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
    }
}

// MARK: - Errors

/// A malformed archive, a misuse of the writer, or an I/O failure.
struct TarError: Error, Sendable, CustomStringConvertible {
    let message: String
    /// Byte offset in the stream of the offending header (or, for I/O
    /// failures, of the position where the failure happened).
    let offset: Int64

    init(message: String, offset: Int64) {
        self.message = message
        self.offset = offset
    }

    var description: String {
        "tar: \(message) (at byte offset \(offset))"
    }
}

// MARK: - Header layout

/// Field offsets and sizes of the 512-byte ustar header block.
enum TarHeaderLayout {
    static let blockSize = 512
    static let name = (offset: 0, length: 100)
    static let mode = (offset: 100, length: 8)
    static let uid = (offset: 108, length: 8)
    static let gid = (offset: 116, length: 8)
    static let size = (offset: 124, length: 12)
    static let mtime = (offset: 136, length: 12)
    static let checksum = (offset: 148, length: 8)
    static let typeflag = 156
    static let linkname = (offset: 157, length: 100)
    static let magic = (offset: 257, length: 6)
    static let version = (offset: 263, length: 2)
    static let uname = (offset: 265, length: 32)
    static let gname = (offset: 297, length: 32)
    static let devmajor = (offset: 329, length: 8)
    static let devminor = (offset: 337, length: 8)
    static let prefix = (offset: 345, length: 155)

    /// POSIX "ustar\0" magic followed by version "00".
    static let posixMagic: [UInt8] = Array("ustar\0".utf8)
    static let posixVersion: [UInt8] = Array("00".utf8)
    /// GNU "ustar  \0" (magic and version fields together).
    static let gnuMagic: [UInt8] = Array("ustar  \0".utf8)

    /// Rounds `size` up to a whole number of blocks and returns the padding.
    static func padding(for size: Int64) -> Int64 {
        let remainder = size % Int64(blockSize)
        return remainder == 0 ? 0 : Int64(blockSize) - remainder
    }

    /// Unsigned and signed sums of the header with the checksum field
    /// counted as eight spaces.
    static func checksums(of header: UnsafeRawBufferPointer) -> (unsigned: Int64, signed: Int64) {
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for index in 0 ..< blockSize {
            let byte: UInt8
            if index >= checksum.offset && index < checksum.offset + checksum.length {
                byte = 0x20
            } else {
                byte = header[index]
            }
            unsigned += Int64(byte)
            signed += Int64(Int8(bitPattern: byte))
        }
        return (unsigned, signed)
    }
}

// MARK: - Byte source / sink protocols

/// A forward-only stream of bytes.
protocol TarByteSource {
    /// Returns up to `maxLength` bytes (at least one), or `[]` only at end of
    /// stream.
    mutating func read(maxLength: Int) throws -> [UInt8]
}

/// A forward-only byte consumer. `write` must consume the whole buffer or throw.
protocol TarByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Largest single read(2)/write(2) request issued by the fd-backed types.
private let maxSyscallLength = 1 << 30

private func sysRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

private func sysWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

private func errnoDescription(_ code: Int32) -> String {
    if let cString = strerror(code) {
        return String(cString: cString) + " (errno \(code))"
    }
    return "errno \(code)"
}

// MARK: - File descriptor implementations

/// Reads from a file descriptor with read(2), retrying on EINTR. Does not own
/// (close) the descriptor.
struct FileDescriptorByteSource: TarByteSource, Sendable {
    let fd: Int32
    /// Number of bytes read so far (used for error offsets).
    private(set) var bytesRead: Int64 = 0

    init(fd: Int32) {
        self.fd = fd
    }

    mutating func read(maxLength: Int) throws -> [UInt8] {
        let length = min(max(maxLength, 0), maxSyscallLength)
        if length == 0 { return [] }
        var failure: Int32 = 0
        let fd = self.fd
        let result = [UInt8](unsafeUninitializedCapacity: length) { buffer, initializedCount in
            initializedCount = 0
            while true {
                let n = sysRead(fd, buffer.baseAddress, length)
                if n >= 0 {
                    initializedCount = n
                    return
                }
                let code = errno
                if code == EINTR { continue }
                failure = code
                return
            }
        }
        if failure != 0 {
            throw TarError(message: "read failed: \(errnoDescription(failure))", offset: bytesRead)
        }
        bytesRead += Int64(result.count)
        return result
    }
}

/// Writes to a file descriptor with write(2), handling EINTR and short
/// writes. Does not own (close) the descriptor.
struct FileDescriptorByteSink: TarByteSink, Sendable {
    let fd: Int32
    /// Number of bytes written so far (used for error offsets).
    private(set) var bytesWritten: Int64 = 0

    init(fd: Int32) {
        self.fd = fd
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var done = 0
        while done < bytes.count {
            let chunk = min(bytes.count - done, maxSyscallLength)
            let n = sysWrite(fd, base + done, chunk)
            if n > 0 {
                done += n
                bytesWritten += Int64(n)
                continue
            }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw TarError(message: "write failed: \(errnoDescription(code))", offset: bytesWritten)
            }
            // write(2) returning 0 for a non-empty buffer: no progress possible.
            throw TarError(message: "write made no progress", offset: bytesWritten)
        }
    }
}

// MARK: - In-memory implementations

/// Serves bytes from an in-memory array (mainly for tests).
struct ArrayByteSource: TarByteSource, Sendable {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func read(maxLength: Int) throws -> [UInt8] {
        let n = min(max(maxLength, 0), bytes.count - position)
        if n == 0 { return [] }
        let result = Array(bytes[position ..< position + n])
        position += n
        return result
    }
}

/// Collects written bytes in memory (mainly for tests).
struct ArrayByteSink: TarByteSink, Sendable {
    var bytes: [UInt8]

    init() {
        self.bytes = []
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }
}

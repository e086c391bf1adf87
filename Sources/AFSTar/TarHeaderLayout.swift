import Foundation

// MARK: - Header layout

/// Field offsets and sizes of the 512-byte ustar header block.
package enum TarHeaderLayout {
    package static let blockSize = 512
    package static let name = (offset: 0, length: 100)
    package static let mode = (offset: 100, length: 8)
    package static let uid = (offset: 108, length: 8)
    package static let gid = (offset: 116, length: 8)
    package static let size = (offset: 124, length: 12)
    package static let mtime = (offset: 136, length: 12)
    package static let checksum = (offset: 148, length: 8)
    package static let typeflag = 156
    package static let linkname = (offset: 157, length: 100)
    package static let magic = (offset: 257, length: 6)
    package static let version = (offset: 263, length: 2)
    package static let uname = (offset: 265, length: 32)
    package static let gname = (offset: 297, length: 32)
    package static let devmajor = (offset: 329, length: 8)
    package static let devminor = (offset: 337, length: 8)
    package static let prefix = (offset: 345, length: 155)

    /// POSIX "ustar\0" magic followed by version "00".
    package static let posixMagic: [UInt8] = Array("ustar\0".utf8)
    package static let posixVersion: [UInt8] = Array("00".utf8)
    /// GNU "ustar  \0" (magic and version fields together).
    package static let gnuMagic: [UInt8] = Array("ustar  \0".utf8)

    /// Rounds `size` up to a whole number of blocks and returns the padding.
    package static func padding(for size: Int64) -> Int64 {
        let remainder = size % Int64(blockSize)
        return remainder == 0 ? 0 : Int64(blockSize) - remainder
    }

    /// Unsigned and signed sums of the header with the checksum field
    /// counted as eight spaces.
    package static func checksums(of header: UnsafeRawBufferPointer) -> (unsigned: Int64, signed: Int64) {
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

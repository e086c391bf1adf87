import Foundation

/// The kind of object a tar entry describes.
package enum TarEntryKind: Sendable, Equatable {
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

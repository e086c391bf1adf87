import Foundation

/// One member of a tar archive, as seen by `TarReader` or handed to `TarWriter`.
package struct TarEntry: Sendable, Equatable {
    /// Path as stored in the archive, after applying pax `path` / GNU long
    /// names. Trailing "/" is stripped when reading; the writer adds one for
    /// directories.
    package var path: String
    package var kind: TarEntryKind
    /// Permission bits only (including setuid/setgid/sticky, i.e. `& 0o7777`).
    package var mode: UInt32
    /// Modification time, whole seconds since the epoch.
    package var mtime: Int64
    /// Content size in bytes; 0 for anything but `.file`.
    package var size: Int64
    /// Symlink / hardlink target.
    package var linkTarget: String?
    /// Numeric owner. nil means "not given": the writer stores 0, and the
    /// reader reports nil when the archive's field is blank or unparsable.
    package var uid: UInt32? = nil
    /// Numeric group; same convention as `uid`.
    package var gid: UInt32? = nil
    /// Device numbers of `.characterDevice` / `.blockDevice` entries; 0 for
    /// every other kind.
    package var deviceMajor: UInt32 = 0
    package var deviceMinor: UInt32 = 0
    /// Extended attributes by full name (e.g. "user.foo"). Values are raw
    /// bytes: attributes are binary and need not be valid UTF-8.
    package var xattrs: [String: [UInt8]] = [:]

    package init(
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

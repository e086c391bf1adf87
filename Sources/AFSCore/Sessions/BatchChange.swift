import Foundation

/// One change of a batch applied with ``AetherStore/apply(_:_:context:)``: what `mkdir`, `unlink`
/// or `rmdir`, and a whole-file write would do, sent many at a time.
///
/// A mount that writes back (`tar -x`, `rm -rf`, a build) produces thousands of small changes;
/// one call and one durable wait for a hundred of them is what makes that cheap over a network.
/// The same value is the JSON body of `POST /v1/sessions/{id}/batch` (a write's bytes in base64).
public struct BatchChange: Sendable, Codable, Equatable {
    /// What a change does; the raw value is the `op` of the JSON form.
    public enum Operation: String, Sendable, Codable, CaseIterable {
        /// Create a directory (its parent must exist; an existing path is `already_exists`).
        case mkdir
        /// Remove a file, symlink, special file or empty directory.
        case remove
        /// Create or replace a file with `data` (a replaced file keeps its owner and xattrs).
        case write
        /// Set the permission bits (`mode`) of any entry.
        case chmod
        /// Set the modification and/or access time (`mtime`, `atime`) of any entry.
        case times
    }

    /// Which operation to apply; decides which of the optional fields are used.
    public var op: Operation
    /// Path in the session the change applies to, e.g. `/src/main.c` (parsed as a `SessionPath`).
    public var path: String
    /// Permission bits: of the directory (default 0755) or the file (default: the replaced
    /// file's, else 0644).
    public var mode: UInt32?
    /// A written file's modification time, nanoseconds since 1970 (default: now); for `times`,
    /// the modification time to set (nil: unchanged).
    public var mtime: Int64?
    /// For `times`: the access time to set, nanoseconds since 1970 (nil: unchanged).
    public var atime: Int64?
    /// For `write`: when the writer made the change, nanoseconds since 1970 (nil: now; a time
    /// later than now counts as now). The written file's change time, and, for a new file, its
    /// directory's times: a client that showed the file before sending it (the mount writes
    /// back) keeps what `stat` showed, instead of a jump to the moment the write arrived.
    public var ctime: Int64?
    /// A written file's bytes.
    public var data: Data?

    /// A `mkdir` of `path` with permission bits `mode`; the parent must already exist.
    public static func makeDirectory(_ path: String, mode: UInt32) -> BatchChange {
        BatchChange(op: .mkdir, path: path, mode: mode)
    }

    /// Removal of the file, symlink, special file or empty directory at `path`.
    public static func remove(_ path: String) -> BatchChange {
        BatchChange(op: .remove, path: path)
    }

    /// Creates or replaces the file at `path` with `data`; nil `mode` keeps the replaced file's
    /// (else 0644), nil `mtime` and `ctime` mean now (nanoseconds since 1970; ``ctime``).
    public static func write(_ path: String, data: [UInt8], mode: UInt32?, mtime: Int64?, ctime: Int64? = nil) -> BatchChange {
        BatchChange(op: .write, path: path, mode: mode, mtime: mtime, data: Data(data), ctime: ctime)
    }

    /// A `chmod` of `path` to permission bits `mode` (at most 0o7777).
    public static func setMode(_ path: String, mode: UInt32) -> BatchChange {
        BatchChange(op: .chmod, path: path, mode: mode)
    }

    /// Sets the times of `path`, nanoseconds since 1970; nil leaves that time unchanged (give at least one).
    public static func setTimes(_ path: String, mtime: Int64?, atime: Int64?) -> BatchChange {
        BatchChange(op: .times, path: path, mtime: mtime, atime: atime)
    }

    /// A change from its fields; which of them apply depends on `op` (see each property).
    public init(op: Operation, path: String, mode: UInt32? = nil, mtime: Int64? = nil, atime: Int64? = nil, data: Data? = nil, ctime: Int64? = nil) {
        self.op = op
        self.path = path
        self.mode = mode
        self.mtime = mtime
        self.atime = atime
        self.data = data
        self.ctime = ctime
    }
}

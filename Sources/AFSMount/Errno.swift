import AFSCore
import Glibc

/// A POSIX error number, the only error a FUSE callback can report.
///
/// The mount's logic throws this type so the bridge turns every failure into `-code` without
/// guessing; ``init(_:wrongKind:)`` is the one place where the service's ``AFSError`` codes become
/// errno values, so a tool on the mount sees the same answer for the same condition on both
/// transports.
public struct Errno: Error, Sendable, Equatable, CustomStringConvertible {
    /// The positive errno value (`ENOENT`, `EIO`, …).
    public let code: Int32

    public init(_ code: Int32) {
        self.code = code
    }

    public var description: String { "\(String(cString: strerror(code))) (errno \(code))" }

    public static let notFound = Errno(ENOENT)
    public static let exists = Errno(EEXIST)
    public static let notEmpty = Errno(ENOTEMPTY)
    public static let notDirectory = Errno(ENOTDIR)
    public static let isDirectory = Errno(EISDIR)
    public static let invalid = Errno(EINVAL)
    public static let denied = Errno(EACCES)
    public static let notPermitted = Errno(EPERM)
    public static let io = Errno(EIO)
    public static let badDescriptor = Errno(EBADF)
    public static let busy = Errno(EBUSY)
    public static let nameTooLong = Errno(ENAMETOOLONG)
    /// No such extended attribute.
    public static let noAttribute = Errno(ENODATA)
    /// An extended-attribute namespace the mount does not store (anything but `user.`).
    public static let notSupported = Errno(EOPNOTSUPP)
    /// A buffer too small for an extended attribute's value or list, or a name over 255 bytes.
    public static let range = Errno(ERANGE)
    /// An extended attribute value over 64 KiB.
    public static let tooBig = Errno(E2BIG)
    /// No room for more extended attributes on the entry.
    public static let noSpace = Errno(ENOSPC)

    /// The errno a tool expects for a service error.
    ///
    /// `wrongKind` says which side of a kind mismatch the operation hit: `EISDIR` when it wanted a
    /// file (unlink, open for write) and found a directory, `ENOTDIR` when it wanted a directory
    /// (rmdir, readdir) and found something else. The service's message is lost here on purpose:
    /// the kernel has no channel for it; the mount logs it instead.
    public init(_ error: AFSError, wrongKind: Errno = .notDirectory) {
        switch error.code {
        case .notFound: self = .notFound
        case .alreadyExists: self = .exists
        case .notEmpty: self = .notEmpty
        case .wrongKind: self = wrongKind
        case .invalidPath:
            // An over-long name is the one invalid path a POSIX tool can reasonably produce.
            self = error.message.contains("the limit is") ? .nameTooLong : .invalid
        case .invalidArgument: self = .invalid
        case .locked, .forbidden: self = .denied
        // An archived session or a write racing a restore: the state refuses, retrying may work.
        case .conflict, .storeLocked: self = .busy
        case .unavailable, .untrustedServer, .io, .corrupted, .unsupportedFormat, .externalTool, .expired: self = .io
        }
    }
}

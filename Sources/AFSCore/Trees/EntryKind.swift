/// What a path names.
///
/// The four special kinds are metadata only: a FIFO or socket in a session is a name with a mode
/// and an owner (a program that opens it through the mount talks to other programs on the same
/// mount, through the kernel), and a device node records its device number (`rdev`) but the mount
/// never opens a device through it (it is mounted `nodev`).
public enum EntryKind: String, Sendable, Codable, Equatable, CaseIterable {
    /// A regular file with content.
    case file
    /// A directory holding other entries.
    case directory
    /// A symbolic link; it stores its target path.
    case symlink
    /// A named pipe: metadata only.
    case fifo
    /// A Unix-domain socket node: metadata only.
    case socket
    /// A character device node: metadata and its `rdev`, never opened.
    case characterDevice = "char-device"
    /// A block device node: metadata and its `rdev`, never opened.
    case blockDevice = "block-device"

    /// FIFOs, sockets and device nodes: entries with no content, only metadata and a device number.
    public var isSpecial: Bool {
        switch self {
        case .fifo, .socket, .characterDevice, .blockDevice: return true
        case .file, .directory, .symlink: return false
        }
    }

    /// The `S_IFMT` bits of `st_mode` for this kind.
    public var typeBits: UInt32 {
        switch self {
        case .file: return 0o100000
        case .directory: return 0o040000
        case .symlink: return 0o120000
        case .fifo: return 0o010000
        case .socket: return 0o140000
        case .characterDevice: return 0o020000
        case .blockDevice: return 0o060000
        }
    }

    /// The kind `S_IFMT` bits of a mode name, or nil.
    public init?(typeBits mode: UInt32) {
        guard let kind = EntryKind.allCases.first(where: { $0.typeBits == mode & 0o170000 }) else { return nil }
        self = kind
    }
}

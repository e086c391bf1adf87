/// When reading a file through the mount moves its access time, as the `atime` mount options
/// of Linux file systems say.
public enum AccessTimePolicy: String, Sendable, CaseIterable {
    /// The Linux default: only when the access time is not after the modification or change
    /// time, or is a day old. `find -amin`, `tmpwatch` and mail readers see whether a file was
    /// read since it changed, at the cost of one record per file per change or day.
    case relatime
    /// Every open for reading.
    case strictatime
    /// Never: access times stay what was last set explicitly (`touch -a`, `utimensat`).
    case noatime

    /// The policy `-o` options ask for (the last one given wins); read-only mounts never record.
    public init(mountOptions options: [String]) {
        var policy = AccessTimePolicy.relatime
        for option in options {
            if let p = AccessTimePolicy(rawValue: option) { policy = p }
            if option == "ro" { policy = .noatime }
        }
        self = policy
    }

    /// Whether a read at `now` moves an access time of `atime` on an entry last modified at
    /// `mtime` and changed at `ctime` (all nanoseconds since 1970).
    func shouldRecord(atime: Int64, mtime: Int64, ctime: Int64, now: Int64) -> Bool {
        switch self {
        case .noatime: return false
        case .strictatime: return now > atime
        case .relatime: return atime <= mtime || atime <= ctime || now - atime >= 86_400 * 1_000_000_000
        }
    }
}

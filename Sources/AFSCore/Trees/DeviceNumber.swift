/// Linux's encoding of a device number (`dev_t`) into major and minor numbers, as glibc's
/// `makedev`/`major`/`minor` do (macros Swift does not import): 12 bits of major and 20 of minor
/// in the low 32 bits, the rest above. Sessions store the combined `rdev`; tar carries the parts.
public enum DeviceNumber {
    /// The major and minor numbers of a combined `rdev`.
    public static func split(_ rdev: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~UInt64(0xfff))
        let minor = (rdev & 0xff) | ((rdev >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// Combines major and minor numbers into an `rdev`, the inverse of `split`.
    public static func make(major: UInt32, minor: UInt32) -> UInt64 {
        let ma = UInt64(major), mi = UInt64(minor)
        return ((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff)
    }
}

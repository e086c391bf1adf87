import CSystemExtras
import Glibc
import Synchronization

/// Random identifiers and secrets from the system's CSPRNG, in the few formats the project uses:
/// one place that draws them, so every id and token has the same source and alphabet rules.
public enum RandomID {
    /// Lowercase base32 (RFC 4648's alphabet, lowercased): 5 bits per character, no look-alikes
    /// such as 0/o or 1/l, safe in paths, URLs and shells.
    static let base32 = Array("abcdefghijklmnopqrstuvwxyz234567")

    /// `count` base32 characters after `prefix`: `RandomID.base32(prefix: "ses_", count: 16)`.
    public static func base32(prefix: String = "", count: Int) -> String {
        // One draw for the whole ID (a byte per character, the low 5 bits used), not a system
        // call per character: making one ID took 16 getrandom calls (Docs/perf/profiles.md §1).
        let random = bytes(count)
        var out = prefix
        out.reserveCapacity(prefix.utf8.count + count)
        for b in random { out.append(base32[Int(b & 31)]) }
        return out
    }

    /// `bytes` random bytes as lowercase hex after `prefix` (2 characters per byte).
    public static func hex(prefix: String = "", bytes count: Int) -> String {
        let digits = Array("0123456789abcdef")
        var out = prefix
        out.reserveCapacity(prefix.utf8.count + 2 * count)
        for b in bytes(count) {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return out
    }

    /// Bytes drawn from the kernel ahead of need: IDs of up to ``Pool/capacity`` bytes are cut
    /// from it, so a fork's session ID costs no system call (one `getrandom` per 4 KiB, about
    /// 250 IDs). Bytes are handed out once and wiped as they are taken.
    private struct Pool: ~Copyable {
        static let capacity = 4096
        var bytes = [UInt8](repeating: 0, count: capacity)
        var next = capacity
    }

    private static let pool = Mutex(Pool())

    /// `count` bytes from the kernel's CSPRNG: small requests from the pool, larger ones in one
    /// `getrandom` call (more only for requests over 256 bytes or an interrupted call).
    static func bytes(_ count: Int) -> [UInt8] {
        guard count <= 64 else { return drawn(count) }
        return pool.withLock { pool in
            if pool.next + count > Pool.capacity {
                pool.bytes = drawn(Pool.capacity)
                pool.next = 0
            }
            let start = pool.next
            pool.next += count
            let out = Array(pool.bytes[start..<start + count])
            for i in start..<start + count { pool.bytes[i] = 0 }
            return out
        }
    }

    /// `count` bytes straight from `getrandom`.
    static func drawn(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var filled = 0
            while filled < count {
                let n = getrandom(buffer.baseAddress! + filled, count - filled, 0)
                if n < 0 {
                    // EINTR: try again. Nothing else can fail with these arguments on Linux 3.17+.
                    precondition(errno == EINTR, "getrandom failed: errno \(errno)")
                    continue
                }
                filled += n
            }
            initialized = count
        }
    }

    /// The identity a store records for itself (the catalog's or the bucket's owner mark):
    /// `afs-store-` and 26 base32 characters (130 bits).
    public static func storeIdentity() -> String { base32(prefix: "afs-store-", count: 26) }
}

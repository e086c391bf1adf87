/// Random identifiers and secrets from the system's CSPRNG, in the few formats the project uses:
/// one place that draws them, so every id and token has the same source and alphabet rules.
public enum RandomID {
    /// Lowercase base32 (RFC 4648's alphabet, lowercased): 5 bits per character, no look-alikes
    /// such as 0/o or 1/l, safe in paths, URLs and shells.
    static let base32 = Array("abcdefghijklmnopqrstuvwxyz234567")

    /// `count` base32 characters after `prefix`: `RandomID.base32(prefix: "ses_", count: 16)`.
    public static func base32(prefix: String = "", count: Int) -> String {
        var g = SystemRandomNumberGenerator()
        var out = prefix
        out.reserveCapacity(prefix.utf8.count + count)
        for _ in 0..<count { out.append(base32[Int(g.next() % 32)]) }
        return out
    }

    /// `bytes` random bytes as lowercase hex after `prefix` (2 characters per byte).
    public static func hex(prefix: String = "", bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var out = prefix
        out.reserveCapacity(prefix.utf8.count + 2 * bytes)
        for _ in 0..<bytes {
            let b = UInt8.random(in: 0...255, using: &g)
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return out
    }

    /// The identity a store records for itself (the catalog's or the bucket's owner mark):
    /// `afs-store-` and 26 base32 characters (130 bits).
    public static func storeIdentity() -> String { base32(prefix: "afs-store-", count: 26) }
}

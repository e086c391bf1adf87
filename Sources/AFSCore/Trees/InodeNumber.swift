/// The inode number `stat` reports for an entry: a function of the path it was created at.
///
/// Git's index records each file's inode number (and `ctime`, `mtime`, size) and re-reads every
/// file whose recorded numbers differ from what `lstat` says. Numbers handed out in lookup order
/// (libfuse's default) change with every mount, so the first `git status` after a mount re-hashed
/// the whole tree. A number derived from the path is the same in every mount of the session, in
/// every fork of it and after a remount, so an index written through one mount stays valid in the
/// next. The kernel identifies nodes by libfuse's own node IDs; this number is only what `stat`
/// and `readdir` show.
///
/// A rename keeps the number (POSIX: the same file under a new name): the engine records the
/// number of the old path in the moved entry (``EntryAttributes/inode``), and entries that were
/// never renamed store none. A file later created at the old path gets the same number; tools
/// that look for hard links compare numbers only when the link count is above 1, which it never
/// is here, so the coincidence misleads none of them. Entries below a renamed directory take the
/// numbers of their new paths.
///
/// XXH3-64 of the path: distinct paths collide with probability about n²/2⁶⁵ (10⁻¹¹ for a million
/// files). Collisions can be crafted, but only by whoever writes the session, and the worst they
/// do is make two of its own files look like hard links to tools that compare inode numbers.
public enum InodeNumber {
    /// The root directory's number, which is also FUSE's root node ID.
    public static let root: UInt64 = 1

    /// The number of the `/`-prefixed session path `path`.
    public static func forPath(_ path: String) -> UInt64 {
        if path == "/" { return root }
        var path = path
        let hash = path.withUTF8 { ContentHash.xxh3(UnsafeRawBufferPointer($0), seed: 0xAE7E_5F5) }
        // 0 means "no inode" to readdir's consumers and 1 is the root: keep clear of both.
        return hash < 2 ? hash &+ 2 : hash
    }
}

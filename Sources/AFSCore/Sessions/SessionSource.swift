import Foundation

/// Where a new session's tree comes from.
public enum SessionSource: Sendable, Equatable {
    /// An empty tree.
    case blank
    /// A local directory, walked recursively (regular files, directories, symlinks, FIFOs, sockets
    /// and device nodes, with owners and `user.` extended attributes).
    case directory(String)
    /// A tar archive (ustar, pax, GNU) on the local file system.
    case tar(String)
    /// A git repository at a ref, read with the real `git` program: exactly the tree of that commit.
    case git(repository: String, ref: String)
    /// Another session (the same as a fork).
    case session(String)
    /// A checkpoint's tree, by checkpoint ID.
    case checkpoint(String)
    /// A commit's tree, by commit ID.
    case commit(String)
    /// A named snapshot (template).
    case snapshot(String)
    /// A tar stream read from an open descriptor (a pipe, a socket); the caller keeps ownership.
    case tarDescriptor(Int32)
}

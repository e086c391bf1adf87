import Foundation

/// Anything that names a tree: used by diff.
public enum TreeReference: Sendable, Equatable {
    /// A session's current tree, by session ID.
    case session(String)
    /// A checkpoint's tree, by checkpoint ID.
    case checkpoint(String)
    /// A commit's tree, by commit ID.
    case commit(String)
    /// A named snapshot's tree.
    case snapshot(String)
    /// The tree of the commit a ref (e.g. `main`) points at.
    case ref(String)
}

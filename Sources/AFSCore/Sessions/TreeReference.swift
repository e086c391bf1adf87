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

extension TreeReference: CustomStringConvertible {
    /// "session ses_…", "checkpoint ckp_…", "commit …", "snapshot NAME", "ref NAME": for messages.
    public var description: String {
        switch self {
        case .session(let id): "session \(id)"
        case .checkpoint(let id): "checkpoint \(id)"
        case .commit(let id): "commit \(id)"
        case .snapshot(let name): "snapshot \(name)"
        case .ref(let name): "ref \(name)"
        }
    }
}

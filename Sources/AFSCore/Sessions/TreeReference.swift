import Foundation

/// Anything that names a tree: used by diff.
public enum TreeReference: Sendable, Equatable {
    case session(String)
    case checkpoint(String)
    case commit(String)
    case snapshot(String)
    case ref(String)
}

import AFSCore

/// What one changefeed event changed in the session's tree: the single reading of event kinds that
/// both the mount's caches (``ChangeFollower/apply(_:)``) and git's monitor
/// (``SessionFilesystem/changedPaths(since:under:)``) act on.
enum TreeChange: Equatable {
    /// A path changed; with `subtree`, it may be a directory whose contents moved or went.
    struct Path: Equatable {
        var path: String
        var subtree: Bool
    }

    case paths([Path])
    /// The tree is as it was (checkpoint, commit, fork, …).
    case none
    /// Anything may have changed (restore, undo, promote, a rename without its destination).
    case everything

    init(_ event: ChangeEvent) {
        switch event.kind {
        case .write, .patch, .truncate, .chmod, .touch, .symlink, .mkdir, .mknod, .chown, .xattr:
            self = .paths([Path(path: event.path, subtree: false)])
        case .link:
            // The new name, and the existing one (its link count moved).
            self = .paths([Path(path: event.path, subtree: false)] + (event.detail.map { [Path(path: $0, subtree: false)] } ?? []))
        case .delete:
            self = .paths([Path(path: event.path, subtree: true)])
        case .rename:
            // A directory rename moves everything below it; the destination is the detail.
            guard let destination = event.detail, destination.hasPrefix("/") else {
                self = .everything
                return
            }
            self = .paths([Path(path: event.path, subtree: true), Path(path: destination, subtree: true)])
        case .fork, .checkpoint, .commit, .archive, .create:
            self = .none
        case .restore, .undo, .promote:
            self = .everything
        }
    }
}

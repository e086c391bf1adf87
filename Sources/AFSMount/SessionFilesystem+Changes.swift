import AFSClient
import AFSCore

extension SessionFilesystem {
    /// More paths than this and the answer is "everything": git would check most files anyway.
    static let changedPathsLimit = 100_000

    /// The paths below `prefix` (a session path: git's work tree inside the mount) that may have
    /// changed since `token`, for git's file-system monitor hook.
    ///
    /// Inclusive, as the hook protocol requires: files open for writing are listed whatever the
    /// changefeed says (their bytes may not be published yet), and they are gathered *before* the
    /// feed is read, so a file closed in between shows up in the feed instead. The new token is
    /// the last event read: anything appended later is reported by the next query. An unknown or
    /// foreign token, an expired cursor, or an event that replaces the tree (restore, undo,
    /// promote) answers "everything".
    public func changedPaths(since token: String?, under prefix: String) throws(AFSError) -> ChangedPaths {
        let open = writablePaths
        let known = token.flatMap(FSMonitorToken.init).flatMap { $0.session == session ? $0 : nil }
        var everything = known == nil
        var seq = known?.seq ?? follower.position
        var changed: [String] = []
        var seen = Set<String>()
        func note(_ path: String) {
            guard !everything else { return }
            if path == prefix || MountPath.isWithin(prefix, path) {
                // The work tree itself (or a directory holding it) was replaced.
                everything = true
                return
            }
            guard MountPath.isWithin(path, prefix) else { return }
            let relative = String(path.dropFirst(prefix == "/" ? 1 : prefix.count + 1))
            if seen.insert(relative).inserted { changed.append(relative) }
            if changed.count > SessionFilesystem.changedPathsLimit { everything = true }
        }
        for path in open { note(path) }
        while true {
            let page: [ChangeEvent]
            do {
                page = try service.changes(session, after: seq, limit: 10_000, wait: 0)
            } catch where error.code == .expired {
                guard let floor = ChangeFollower.resumePoint(error.message), floor > seq else { throw error }
                everything = true
                seq = floor
                continue
            }
            guard let last = page.last else { break }
            seq = last.seq
            // git lstat()s what it is told changed right after: the mount's and the kernel's
            // copies must be gone by then, whether or not the follower has seen these events yet.
            follower.apply(page)
            for event in page where !everything {
                switch event.kind {
                case .write, .patch, .truncate, .chmod, .touch, .symlink, .mkdir:
                    note(event.path)
                case .delete:
                    // Maybe a directory: its name with a slash covers what was below it.
                    note(event.path)
                    note(event.path + "/")
                case .rename:
                    guard let destination = event.detail, destination.hasPrefix("/") else {
                        everything = true
                        break
                    }
                    for path in [event.path, destination] {
                        note(path)
                        note(path + "/")
                    }
                case .fork, .checkpoint, .commit, .archive, .create:
                    // The session's tree is unchanged.
                    break
                case .restore, .undo, .promote:
                    everything = true
                }
            }
        }
        return ChangedPaths(token: FSMonitorToken(session: session, seq: seq).description, paths: everything ? [] : changed, everything: everything)
    }
}

import AFSClient
import AFSCore

extension SessionFilesystem {
    /// More paths than this and the answer is "everything": git would check most files anyway.
    static let changedPathsLimit = 100_000

    /// The paths below `prefix` (a session path: git's work tree inside the mount) that may have
    /// changed since `token`, for git's file-system monitor hook.
    ///
    /// Paths inside `.git` are left out (git keeps its own files itself). Inclusive otherwise, as
    /// the hook protocol requires: files open for writing are listed whatever the
    /// changefeed says (their bytes may not be published yet), and they are gathered *before* the
    /// feed is read, so a file closed in between shows up in the feed instead. The new token is
    /// the last event read: anything appended later is reported by the next query. An unknown or
    /// foreign token, an expired cursor, or an event that replaces the tree (restore, undo,
    /// promote) answers "everything".
    public func changedPaths(since token: String?, under prefix: String) throws(AFSError) -> ChangedPaths {
        let open = writablePaths
        let known = token.flatMap(FSMonitorToken.init).flatMap { $0.session == session ? $0 : nil }
        var everything = known == nil
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
            // git's own files are not the work tree's: naming them would make git think its
            // untracked cache changed and rewrite the index, whose write the next query would
            // report again, and so on forever.
            if relative == ".git" || relative.hasPrefix(".git/") { return }
            if seen.insert(relative).inserted { changed.append(relative) }
            if changed.count > SessionFilesystem.changedPathsLimit { everything = true }
        }
        for path in open { note(path) }
        let seq = try ChangeFollower.readToEnd(service, session: session, after: known?.seq ?? follower.position, skipped: { everything = true }) { page in
            // git lstat()s what it is told changed right after: the mount's and the kernel's
            // copies must be gone by then, whether or not the follower has seen these events yet.
            follower.apply(page)
            for event in page where !everything {
                switch TreeChange(event) {
                case .paths(let changed):
                    for change in changed {
                        note(change.path)
                        // Maybe a directory: its name with a slash covers what was below it.
                        if change.subtree { note(change.path + "/") }
                    }
                case .none:
                    break
                case .everything:
                    everything = true
                }
            }
        }
        return ChangedPaths(token: FSMonitorToken(session: session, seq: seq).description, paths: everything ? [] : changed, everything: everything)
    }
}

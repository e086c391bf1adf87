import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Attributes

    /// Attributes of an open handle (`fi` given) or a path: open files first (their unsaved size
    /// counts), then the cache, then the service.
    public func attributes(path: String?, handle: UInt64? = nil) throws(Errno) -> FileAttributes {
        var found = try storedAttributes(path: path, handle: handle)
        // An access time this mount recorded and has not sent yet is newer than the service's.
        if accessTimePolicy != .noatime, let p = path ?? handle.flatMap({ openFile(handle: $0)?.path }), let pending = accessTimes.pending(p),
            pending > (found.atime ?? found.mtime)
        {
            found.atime = pending
        }
        return found
    }

    func storedAttributes(path: String?, handle: UInt64?) throws(Errno) -> FileAttributes {
        if let handle, let file = openFile(handle: handle) { return file.attributes() }
        guard let path else { throw Errno.badDescriptor }
        if let file = openFile(at: path) {
            // A file the kernel opened (held only by an implicit handle) and changed elsewhere
            // since: the changefeed's attributes, not the version the handle loaded.
            if opensByKernel, let newer = newerElsewhere(file, path) { return newer }
            return file.attributes()
        }
        switch writeBack.lookup(path) {
        case .directory(let attributes)?, .changed(let attributes)?: return metadata.floored(path, attributes)
        case .absent?: throw Errno.notFound
        case nil: break
        }
        switch metadata.lookup(path) {
        case .found(let attributes): return attributes
        case .missing: throw Errno.notFound
        case .unknown: break
        }
        // One listing answers for every name in the directory: the first `git status` on a fresh
        // mount lstat()s every tracked file without reading the directories first, which was a
        // service call per file.
        // `list` reads the whole subtree at the first miss in it (``warmTree(_:)``).
        if path != "/", metadata.listing(MountPath.parent(of: path)) == nil, (try? list(MountPath.parent(of: path))) != nil {
            switch metadata.lookup(path) {
            case .found(let attributes): return attributes
            case .missing: throw Errno.notFound
            case .unknown: break
            }
        }
        let generation = metadata.generation
        let attributes: FileAttributes
        do throws(Errno) {
            attributes = FileAttributes(try call("stat", path) { () throws(AFSError) in try service.stat(session, path: path) })
        } catch {
            // The root always exists; a transport that cannot stat it gets the fixed answer.
            if path == "/" { return rootAttributes }
            if error == .notFound { metadata.store(absent: path, asOf: generation) }
            throw error
        }
        metadata.store(path, attributes, asOf: generation)
        return metadata.floored(path, attributes)
    }

    /// The entries of a directory (without `.` and `..`), with attributes for readdirplus.
    public func list(_ path: String) throws(Errno) -> [(name: String, attributes: FileAttributes)] {
        var attempt = 0
        while true {
            attempt += 1
            let generation = metadata.generation
            // The open-file table and the queue first, the listing last: a change that lands
            // meanwhile is written into the listing before it leaves the table or the queue, so
            // whichever side it is on when looked at, it is seen (read the other way round, a
            // removal landing in between left its name in an `rmdir`'s listing: ENOTEMPTY).
            let open = files.withLock { t in t.byPath.filter { MountPath.parent(of: $0.key) == path && $0.key != path } }
            let queued = writeBack.children(of: path)
            var entries: [(name: String, attributes: FileAttributes)]
            let pending = writeBack.lookup(path)
            if case .absent? = pending { throw Errno.notFound }
            if case .directory? = pending {
                // Created here and not yet at the service: what it holds is all queued or open.
                entries = []
            } else if let cached = metadata.listing(path) {
                entries = cached
            } else if attempt == 1, warmTree(path), let cached = metadata.listing(path) {
                entries = cached
            } else {
                let listed = try call("list", path) { () throws(AFSError) in try service.list(session, path: path) }
                entries = listed.map { ($0.name, FileAttributes($0)) }
                metadata.store(listing: entries, of: path, asOf: generation)
            }
            // Queued removals and directories not yet at the service.
            if !queued.isEmpty {
                let changed = Dictionary(queued.map { ($0.name, $0.pending) }, uniquingKeysWith: { _, last in last })
                entries.removeAll { changed[$0.name] != nil }
                for (name, change) in changed {
                    switch change {
                    case .directory(let attributes), .changed(let attributes): entries.append((name, attributes))
                    case .absent: break
                    }
                }
            }
            // Files created here and not yet uploaded, and open files whose size moved on.
            var position: [String: Int] = [:]
            for (i, e) in entries.enumerated() { position[e.name] = i }
            for (p, file) in open.sorted(by: { $0.key < $1.key }) {
                let name = MountPath.name(of: p)
                if let i = position[name] { entries[i].attributes = file.attributes() } else { entries.append((name, file.attributes())) }
            }
            // A file published meanwhile invalidates first and then leaves the table (its last
            // release), so the overlay may have missed it while the listing predates its upload: a
            // stale size handed to the kernel (readdirplus) would shrink its view of the file.
            if metadata.generation == generation || attempt >= 3 { return entries }
        }
    }

    /// Reads the subtree at `directory` whole into the metadata cache, unless it was lately or
    /// is being read (``TreeWarmer``). Only while the changefeed is followed: the listings then
    /// live a minute and every change drops what it touches; a mount that cannot follow keeps
    /// listings for a second, too short to pay for a subtree. Returns whether it was asked.
    @discardableResult
    func warmTree(_ directory: String) -> Bool {
        guard followsChanges else { return false }
        warmer.warm(directory, epoch: metadata.epoch) { [self] directory in
            let generation = metadata.generation
            let entries: [TreeEntry]
            let start = ContinuousClock.now
            do throws(AFSError) {
                entries = try service.listTree(session, path: directory, limit: warmer.limit)
                // Shown by `aether metrics show` beside the FUSE operations it saves.
                metrics.record("service-tree", duration: .now - start, failed: false)
            } catch {
                metrics.record("service-tree", duration: .now - start, failed: true)
                guard error.code == .invalidArgument else {
                    // Unreadable: its directories are listed one at a time.
                    if error.code != .notFound { note("tree \(directory): \(error.message); listing its directories one at a time") }
                    return .failed
                }
                // Too large: the directory alone, and its subtrees by the warmer's lanes.
                let listed: [DirectoryEntry]
                do throws(AFSError) { listed = try service.list(session, path: directory) } catch { return .failed }
                metadata.store(listing: listed.map { ($0.name, FileAttributes($0)) }, of: directory, asOf: generation)
                return .split(listed.filter { $0.kind == .directory }.map { MountPath.join(directory, $0.name) })
            }
            var listings: [String: [String: FileAttributes]] = [directory: [:]]
            var ignoreFiles: [DirectoryReadahead.Item] = []
            for e in entries {
                let attributes = FileAttributes(e.entry)
                listings[MountPath.parent(of: e.path), default: [:]][e.entry.name] = attributes
                if e.entry.kind == .directory, listings[e.path] == nil { listings[e.path] = [:] }
                if e.entry.name == ".gitignore", e.entry.kind == .file, e.entry.size < Self.partialFetchThreshold, let id = e.entry.contentID {
                    ignoreFiles.append(DirectoryReadahead.Item(path: e.path, id: id, size: e.entry.size))
                }
            }
            metadata.store(listings: listings, asOf: generation)
            // `git status` reads the `.gitignore` of every directory it scans, one cold open
            // each (one per directory starts no readahead): fetched now, in batches, they are
            // local by the time it gets there.
            if !ignoreFiles.isEmpty { readahead.enqueue(ignoreFiles) }
            return .read
        }
        return true
    }

    /// A symbolic link's target.
    public func readLink(_ path: String) throws(Errno) -> String {
        let stat = try call("readlink", path) { () throws(AFSError) in try service.stat(session, path: path) }
        guard stat.kind == .symlink, let target = stat.target else { throw Errno.invalid }
        return target
    }

    /// Space figures for `statfs`: those of the disk holding the cache, where the mount's bytes live locally.
    public func usage() -> statvfs {
        var st = statvfs()
        if statvfs(cache.configuration.directory, &st) != 0 {
            st = statvfs()
            st.f_bsize = 4096
            st.f_frsize = 4096
        }
        st.f_namemax = UInt(SessionPath.maxNameBytes)
        return st
    }
}

extension SessionFilesystem {
    /// After the service applied changes made through this mount: the directories those changes
    /// made, removed or renamed entries in have the times the service stamped as it applied them,
    /// later than the ones the mount showed when the change was made (``MetadataCache/touchParent(of:at:)``).
    /// They are fetched once per directory per batch and replace what the mount and the kernel
    /// hold; otherwise the kernel would keep the mount's guess for as long as it keeps attributes,
    /// and `stat` would disagree with the same directory after a remount (git's untracked cache
    /// compares directory times).
    ///
    /// A directory with a change of its own still queued is left alone: its removal (`rm -rf`
    /// removes it right after its entries) or its times set explicitly (`tar -x` restores them
    /// last) settle it when they land, and asking the service first would be a wasted round trip.
    static func settleTimes(
        ofParentsOf paths: [String], pending queue: WriteBack, service: any AetherService & Sendable, session: String, metadata: MetadataCache,
        kernel: KernelCache
    ) {
        let parents = Set(paths.lazy.filter { $0 != "/" }.map(MountPath.parent(of:))).filter { metadata.isTouched($0) && queue.lookup($0) == nil }
        for parent in parents {
            // Gone meanwhile (removed by a later change): its own removal settles it.
            guard let stat = try? service.stat(session, path: parent) else { continue }
            metadata.settle(parent, to: FileAttributes(stat))
            kernel.invalidateAttributes(parent)
        }
    }
}

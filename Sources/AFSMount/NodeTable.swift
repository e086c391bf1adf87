import AFSSupport

/// The kernel's view of the mounted tree: which node ID stands for which name in which directory,
/// and how many lookups of each the kernel holds.
///
/// The low-level FUSE protocol speaks in node IDs, not paths. The kernel learns an ID from each
/// `lookup`, `create`, `mkdir`, … reply (and from every readdirplus entry) and returns the
/// references in `forget`; until it has returned them all, the ID must keep naming the same
/// entry, through renames of it or of any directory above it. So the table is a tree of
/// (parent, name) edges: a rename moves one edge, and a node's path is found by walking up.
/// An unlinked node that the kernel still holds (an open file) is detached: it has no path, and
/// its open handles (``handles(of:)``) answer for it.
///
/// Node IDs are never reused (a 64-bit counter), so a late `forget` can never hit a newer node.
/// What `stat` shows as the inode number is not the node ID: it is ``InodeNumber``, stable across
/// mounts (git's index records it).
final class NodeTable: Sendable {
    /// FUSE's fixed ID of the mount's root (`FUSE_ROOT_ID`).
    static let rootID: UInt64 = 1

    struct Node {
        /// The directory holding this node, or nil once it is unlinked (detached).
        var parent: UInt64?
        var name: String
        /// References the kernel holds (one per reply that named the node).
        var lookups: UInt64
        /// Open file handles on this node: what answers for it once detached.
        var handles: [UInt64] = []
        /// The handle that serves the requests the kernel sends without one, once it opens
        /// files itself (``SessionFilesystem/opensByKernel``): nil until the first such request.
        var implicitHandle: UInt64?
        /// Requests using the implicit handle now: it is dropped only when none is.
        var implicitUsers = 0
        /// A drop asked for while requests used it: done by the last of them.
        var implicitDropPending = false
        /// The file as it was when its name was removed, for descriptors the kernel opened
        /// before: served from the content cache if it still holds it.
        var removedContent: (path: String, attributes: FileAttributes)?
        /// The content (size, modification time) whose pages the kernel may keep across opens.
        var cachedContent: ContentStamp?
        /// The last listing handed out for readdir, by entry; later offsets continue it.
        var listing: [Listed]?
    }

    /// When requests last used a node's implicit handle, and last wrote through it.
    struct ImplicitTimes {
        var used: ContinuousClock.Instant
        var written: ContinuousClock.Instant?
    }

    /// What the kernel's page cache of a file was filled from.
    struct ContentStamp: Equatable {
        var size: UInt64
        var mtime: Int64
    }

    /// One directory entry as readdir hands it out.
    struct Listed {
        var name: String
        var attributes: FileAttributes
    }

    private struct Edge: Hashable {
        var parent: UInt64
        var name: String
    }

    private struct State {
        var nodes: [UInt64: Node] = [NodeTable.rootID: Node(parent: nil, name: "", lookups: 1)]
        var edges: [Edge: UInt64] = [:]
        /// The nodes that have an implicit handle, and when requests last used it and wrote
        /// through it: what the sweep of handles nobody closes looks through
        /// (``implicitHandleUses()``).
        var implicitSince: [UInt64: ImplicitTimes] = [:]
        var next: UInt64 = NodeTable.rootID + 1

        func path(of id: UInt64) -> String? {
            if id == NodeTable.rootID { return "/" }
            var names: [Substring] = []
            var current = id
            while current != NodeTable.rootID {
                guard let node = nodes[current], let parent = node.parent else { return nil }
                names.append(Substring(node.name))
                current = parent
            }
            return "/" + names.reversed().joined(separator: "/")
        }

        mutating func detach(_ edge: Edge) {
            guard let id = edges.removeValue(forKey: edge) else { return }
            nodes[id]?.parent = nil
        }
    }

    private let state = UnfairLocked(State())

    /// The path of node `id`, or nil for a detached (unlinked) or unknown node.
    func path(of id: UInt64) -> String? {
        state.withLock { $0.path(of: id) }
    }

    /// The path of `name` in directory `parent`, or nil if the directory has none.
    func path(of name: String, in parent: UInt64) -> String? {
        guard let directory = path(of: parent) else { return nil }
        return MountPath.join(directory, name)
    }

    /// The node for `name` in `parent`, made if new, with one more kernel reference: call once
    /// per reply that hands the kernel an entry.
    func remember(_ name: String, in parent: UInt64) -> UInt64 {
        state.withLock { s in
            let edge = Edge(parent: parent, name: name)
            if let id = s.edges[edge] {
                s.nodes[id]?.lookups += 1
                return id
            }
            let id = s.next
            s.next += 1
            s.nodes[id] = Node(parent: parent, name: name, lookups: 1)
            s.edges[edge] = id
            return id
        }
    }

    /// The kernel dropped `count` references to `id`; a node with none left is gone. Returns
    /// the gone node's implicit handle, for the caller to release (no file is open on a node
    /// the kernel forgets).
    @discardableResult
    func forget(_ id: UInt64, count: UInt64) -> UInt64? {
        guard id != NodeTable.rootID else { return nil }
        return state.withLock { s -> UInt64? in
            guard var node = s.nodes[id] else { return nil }
            node.lookups = node.lookups > count ? node.lookups - count : 0
            guard node.lookups == 0 else {
                s.nodes[id] = node
                return nil
            }
            s.nodes[id] = nil
            s.implicitSince[id] = nil
            if let parent = node.parent, s.edges[Edge(parent: parent, name: node.name)] == id {
                s.edges[Edge(parent: parent, name: node.name)] = nil
            }
            return node.implicitHandle
        }
    }

    /// `name` left `parent` (unlink, rmdir): its node, if the kernel still holds it, is detached.
    func remove(_ name: String, from parent: UInt64) {
        state.withLock { $0.detach(Edge(parent: parent, name: name)) }
    }

    /// `name` in `parent` is now `newName` in `newParent`, replacing whatever was there.
    func rename(_ name: String, in parent: UInt64, to newName: String, in newParent: UInt64) {
        state.withLock { s in
            let from = Edge(parent: parent, name: name)
            let to = Edge(parent: newParent, name: newName)
            guard from != to else { return }
            s.detach(to)
            guard let id = s.edges.removeValue(forKey: from) else { return }
            s.edges[to] = id
            s.nodes[id]?.parent = newParent
            s.nodes[id]?.name = newName
        }
    }

    /// The node the kernel knows for `path`, walking down from the root; nil where it knows none.
    func id(of path: String) -> UInt64? {
        state.withLock { s in
            var current = NodeTable.rootID
            for name in path.split(separator: "/") {
                guard let next = s.edges[Edge(parent: current, name: String(name))] else { return nil }
                current = next
            }
            return current
        }
    }

    /// Every node below `path` that the kernel knows (not `path` itself), for a subtree change.
    func descendants(of path: String) -> [UInt64] {
        guard let top = id(of: path) else { return [] }
        return state.withLock { s in
            s.nodes.keys.filter { id in
                var current = s.nodes[id]?.parent
                while let parent = current {
                    if parent == top { return true }
                    current = s.nodes[parent]?.parent
                }
                return false
            }
        }
    }

    /// Every node with its (parent, name) edge, for dropping everything the kernel caches.
    func allEntries() -> [(id: UInt64, parent: UInt64, name: String)] {
        state.withLock { s in s.edges.map { (id: $0.value, parent: $0.key.parent, name: $0.key.name) } }
    }

    // MARK: Handles and caches

    func addHandle(_ handle: UInt64, to id: UInt64) {
        state.withLock { $0.nodes[id]?.handles.append(handle) }
    }

    func removeHandle(_ handle: UInt64, from id: UInt64) {
        state.withLock { s in s.nodes[id]?.handles.removeAll { $0 == handle } }
    }

    /// Open handles on `id` (what `getattr` of an unlinked open file asks).
    func handles(of id: UInt64) -> [UInt64] {
        state.withLock { $0.nodes[id]?.handles ?? [] }
    }

    /// The handle serving `id`'s requests that carry none, if one was made (for a look only:
    /// a request uses it through ``useImplicitHandle(of:)``).
    func implicitHandle(of id: UInt64) -> UInt64? {
        state.withLock { $0.nodes[id]?.implicitHandle }
    }

    /// Begins a request's use of `id`'s implicit handle, if it has one: it is not dropped
    /// (descriptors closed) until ``endImplicitUse(_:of:)``.
    func useImplicitHandle(of id: UInt64) -> UInt64? {
        state.withLock { s -> UInt64? in
            guard var node = s.nodes[id], let handle = node.implicitHandle, !node.implicitDropPending else { return nil }
            node.implicitUsers += 1
            s.nodes[id] = node
            return handle
        }
    }

    /// Makes `handle` the implicit handle of `id`, unless another thread set one first, and
    /// begins a use of the one in use (the caller releases its own if it lost); nil when the
    /// node is gone.
    func adoptImplicitHandle(_ handle: UInt64, for id: UInt64, at now: ContinuousClock.Instant = .now) -> UInt64? {
        state.withLock { s -> UInt64? in
            guard var node = s.nodes[id] else { return nil }
            if let existing = node.implicitHandle, !node.implicitDropPending {
                node.implicitUsers += 1
                s.nodes[id] = node
                return existing
            }
            if node.implicitHandle != nil { return nil }
            node.implicitHandle = handle
            node.implicitUsers = 1
            node.handles.append(handle)
            s.nodes[id] = node
            s.implicitSince[id] = ImplicitTimes(used: now, written: nil)
            return handle
        }
    }

    /// Ends a use begun by ``useImplicitHandle(of:)`` or ``adoptImplicitHandle(_:for:)``;
    /// true when it completed a drop asked for meanwhile (the caller then releases the handle).
    /// `wrote`: the request wrote through the handle.
    func endImplicitUse(_ handle: UInt64, of id: UInt64, wrote: Bool = false, at now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { s -> Bool in
            guard var node = s.nodes[id], node.implicitHandle == handle else { return false }
            node.implicitUsers -= 1
            let completes = node.implicitUsers == 0 && node.implicitDropPending
            if completes { Self.clearImplicit(&node) }
            s.nodes[id] = node
            if completes {
                s.implicitSince[id] = nil
            } else {
                let written = wrote ? now : s.implicitSince[id]?.written
                s.implicitSince[id] = ImplicitTimes(used: now, written: written)
            }
            return completes
        }
    }

    /// Stops using `handle` as `id`'s implicit handle: true when that happened now (the caller
    /// then releases it, and only then); while requests use it, the last of them does.
    func dropImplicitHandle(_ handle: UInt64, of id: UInt64) -> Bool {
        state.withLock { s -> Bool in
            guard var node = s.nodes[id], node.implicitHandle == handle else { return false }
            if node.implicitUsers > 0 {
                node.implicitDropPending = true
                s.nodes[id] = node
                return false
            }
            Self.clearImplicit(&node)
            s.nodes[id] = node
            s.implicitSince[id] = nil
            return true
        }
    }

    /// A node's implicit handle as the sweep of handles nobody closes sees it
    /// (``SessionFilesystem/closesUnseen``).
    struct ImplicitHandleUse {
        var node: UInt64
        var handle: UInt64
        /// The last write through it, else its last use: reads do not hold back the
        /// publication of a file's writes.
        var since: ContinuousClock.Instant
        /// No request uses it, no drop waits for it, and the node still has a name (an unlinked
        /// node keeps its handle until the kernel forgets it).
        var sweepable: Bool
    }

    /// Every implicit handle, for the sweep: once the kernel stops sending `flush`, nothing else
    /// says their programs closed them.
    func implicitHandleUses() -> [ImplicitHandleUse] {
        state.withLock { s in
            s.implicitSince.compactMap { id, times in
                guard let node = s.nodes[id], let handle = node.implicitHandle else { return nil }
                let sweepable = node.parent != nil && node.implicitUsers == 0 && !node.implicitDropPending
                return ImplicitHandleUse(node: id, handle: handle, since: times.written ?? times.used, sweepable: sweepable)
            }
        }
    }

    /// The entries of directory `parent` that have an implicit handle.
    func implicitNodes(in parent: UInt64) -> [UInt64] {
        state.withLock { s in s.implicitSince.keys.filter { s.nodes[$0]?.parent == parent } }
    }

    private static func clearImplicit(_ node: inout Node) {
        if let handle = node.implicitHandle { node.handles.removeAll { $0 == handle } }
        node.implicitHandle = nil
        node.implicitDropPending = false
    }

    /// Records what `id` held when its name was removed (``Node/removedContent``).
    func noteRemovedContent(_ attributes: FileAttributes, at path: String, of id: UInt64) {
        state.withLock { $0.nodes[id]?.removedContent = (path, attributes) }
    }

    func removedContent(of id: UInt64) -> (path: String, attributes: FileAttributes)? {
        state.withLock { $0.nodes[id]?.removedContent }
    }

    /// The node a name in a directory stands for, if the kernel holds it.
    func id(of name: String, in parent: UInt64) -> UInt64? {
        state.withLock { $0.edges[Edge(parent: parent, name: name)] }
    }

    /// Whether the kernel may keep the pages it has of `id` for an open of content `stamp`:
    /// yes when they were read from the same content. Records `stamp` either way.
    func keepsCache(_ id: UInt64, for stamp: ContentStamp) -> Bool {
        state.withLock { s in
            let same = s.nodes[id]?.cachedContent == stamp
            s.nodes[id]?.cachedContent = stamp
            return same
        }
    }

    /// The kernel's pages of `id` were dropped: the next open must not claim them.
    func dropCachedContent(_ id: UInt64) {
        state.withLock { $0.nodes[id]?.cachedContent = nil }
    }

    func storeListing(_ listing: [Listed], of id: UInt64) {
        state.withLock { $0.nodes[id]?.listing = listing }
    }

    func listing(of id: UInt64) -> [Listed]? {
        state.withLock { $0.nodes[id]?.listing }
    }

    /// How many nodes the kernel holds (for metrics and tests).
    var count: Int { state.withLock { $0.nodes.count } }
}

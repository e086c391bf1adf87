import AFSSupport
import CPowerLossVFS
import Foundation
import Synchronization

/// What a power cut would leave on disk of the files ``POSIXFile`` writes under one directory:
/// a test seam, off unless a test installs one.
///
/// kill -9 loses nothing the process handed to the kernel; a power cut loses what the kernel had
/// not yet written, in any order: each 512-byte block written since its file's last `fdatasync`
/// may hold its new or its old content, a size change may or may not have happened, a file
/// created or renamed since its directory's last `fsync` may or may not be there. The simulator
/// keeps, per file, the durable content of every block dirtied since the last sync (read just
/// before the write), and ``crashImage(into:seed:)`` copies the directory with each of those
/// choices made at random. The store reopened from the copy must hold every acknowledged write
/// and serve nothing half-written.
///
/// SQLite's files (the catalog: database, WAL) are watched too, through a pass-through VFS
/// (`CPowerLossVFS`) that becomes SQLite's default when a simulator is first installed, so only
/// connections opened after ``install(root:)`` are seen. Its shared-memory index (`-shm`) is
/// left out of the image, as SQLite rebuilds it. Not modelled: files removed without a directory
/// sync reappearing.
final class PowerLossSimulator: Sendable {
    static let blockSize: Int64 = 512

    /// The simulator ``POSIXFile`` reports to, if a test installed one.
    private static let installed = Locked<PowerLossSimulator?>(nil)
    /// Whether one is installed: the only cost to every write when none is.
    private static let active = Atomic<Bool>(false)

    /// Files under this directory are watched.
    let root: String
    private let state = Locked(State())

    private struct FileState {
        /// The size at the last sync, if it changed since.
        var durableSize: Int64?
        /// Block number → its content at the last sync (shorter at the end of the file).
        var durableBlocks: [Int64: [UInt8]] = [:]
        /// Created since its directory was last synced.
        var created = false
    }

    private struct State {
        var files: [String: FileState] = [:]
        /// Target of a rename not yet made durable → its content before (nil: it did not exist).
        var renamed: [String: [UInt8]?] = [:]
        /// Writes, resizes, syncs and renames seen so far.
        var events = 0
        /// Every file an event was about.
        var seen: Set<String> = []
        /// Take a crash image when the events counted for it reach `event`.
        var pendingCrash: (event: Int, counted: Int, only: String?, target: String, seed: UInt64)?
        var crashTaken = false
    }

    private init(root: String) {
        self.root = root
    }

    /// Starts watching the files under `root` (one simulator at a time).
    static func install(root: String) -> PowerLossSimulator {
        let simulator = PowerLossSimulator(root: root)
        installed.withLock { $0 = simulator }
        active.store(true, ordering: .releasing)
        let callbacks = afs_plvfs_callbacks(
            will_write: { path, offset, count in
                guard let path else { return }
                PowerLossSimulator.byPath(String(cString: path)) { fd, p in PowerLossSimulator.willWrite(fd, path: p, offset: offset, count: Int(count)) }
            },
            will_truncate: { path, length in
                guard let path else { return }
                PowerLossSimulator.byPath(String(cString: path)) { fd, p in PowerLossSimulator.willResize(fd, path: p, to: length) }
            },
            did_sync: { path in
                guard let path else { return }
                PowerLossSimulator.didSync(String(cString: path))
            })
        let rc = afs_plvfs_install(callbacks)
        precondition(rc == 0, "cannot register the power-loss SQLite VFS: \(rc)")
        return simulator
    }

    /// Stops watching.
    static func uninstall() {
        afs_plvfs_clear()
        active.store(false, ordering: .releasing)
        installed.withLock { $0 = nil }
    }

    /// Runs a hook for a file SQLite writes, with a descriptor of its own to read what it held.
    private static func byPath(_ path: String, _ hook: (Int32, String) -> Void) {
        guard watching(path) != nil else { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        hook(fd, path)
    }

    /// How many events (writes, resizes, syncs, renames) it has seen.
    var events: Int { state.withLock { $0.events } }

    /// The files it has seen events about.
    var filesSeen: Set<String> { state.withLock { $0.seen } }

    /// Takes a crash image into `target` at the `event`-th event from now (counting only events
    /// about paths that contain `only`, if given), in the middle of whatever the store is doing
    /// then; ``crashTaken`` says when it has happened.
    func crash(atEvent event: Int, only: String? = nil, into target: String, seed: UInt64) {
        state.withLock { s in
            s.pendingCrash = (max(1, event), 0, only, target, seed)
            s.crashTaken = false
        }
    }

    var crashTaken: Bool { state.withLock { $0.crashTaken } }

    /// Copies the watched directory into `target` as a power cut now could leave it.
    func crashImage(into target: String, seed: UInt64) throws {
        let s = state.withLock { $0 }
        try Self.image(s, root: root, into: target, seed: seed)
    }

    // MARK: Hooks (called by POSIXFile)

    private static func watching(_ path: String) -> PowerLossSimulator? {
        guard active.load(ordering: .acquiring), let simulator = installed.withLock({ $0 }), path.hasPrefix(simulator.root + "/") else { return nil }
        return simulator
    }

    /// `path` is about to be opened with `flags`: returns whether the open would create it.
    static func willOpen(_ path: String, flags: Int32) -> Bool {
        guard flags & O_CREAT != 0, watching(path) != nil else { return false }
        return access(path, F_OK) != 0
    }

    static func didCreate(_ path: String) {
        watching(path)?.update(path) { s in s.files[path, default: FileState()].created = true }
    }

    /// Bytes [offset, offset + count) of `fd` are about to be overwritten.
    static func willWrite(_ fd: Int32, path: String, offset: Int64, count: Int) {
        guard let simulator = watching(path), count > 0 else { return }
        simulator.update(path) { s in
            var f = s.files[path] ?? FileState()
            let size = Self.size(fd)
            if offset + Int64(count) > size, f.durableSize == nil { f.durableSize = size }
            for block in offset / blockSize...(offset + Int64(count) - 1) / blockSize where f.durableBlocks[block] == nil {
                f.durableBlocks[block] = Self.read(fd, block: block)
            }
            s.files[path] = f
        }
    }

    /// `fd` is about to get `length` bytes (truncated or extended).
    static func willResize(_ fd: Int32, path: String, to length: Int64) {
        guard let simulator = watching(path) else { return }
        simulator.update(path) { s in
            var f = s.files[path] ?? FileState()
            let size = Self.size(fd)
            guard length != size else { return }
            if f.durableSize == nil { f.durableSize = size }
            if length < size {
                // What is cut off comes back if the truncation is lost.
                for block in length / blockSize...(size - 1) / blockSize where f.durableBlocks[block] == nil {
                    f.durableBlocks[block] = Self.read(fd, block: block)
                }
            }
            s.files[path] = f
        }
    }

    /// `path`'s data and size are durable.
    static func didSync(_ path: String) {
        watching(path)?.update(path) { s in
            guard var f = s.files[path] else { return }
            f.durableSize = nil
            f.durableBlocks = [:]
            s.files[path] = f.created ? f : nil
        }
    }

    /// Entries of `directory` (created files, renames) are durable.
    static func didSyncDirectory(_ directory: String) {
        guard let simulator = watching(directory + "/x") else { return }
        simulator.update(directory) { s in
            for (path, f) in s.files where f.created && (path as NSString).deletingLastPathComponent == directory {
                var g = f
                g.created = false
                s.files[path] = g.durableBlocks.isEmpty && g.durableSize == nil ? nil : g
            }
            for path in s.renamed.keys where (path as NSString).deletingLastPathComponent == directory {
                s.renamed[path] = nil
            }
        }
    }

    /// `from` is about to replace `to`.
    static func willRename(_ from: String, to: String) {
        guard let simulator = watching(to) else { return }
        simulator.update(to) { s in
            if s.renamed[to] == nil {
                let before: [UInt8]? = (try? POSIXFile.readWhole(to)) ?? nil
                s.renamed[to] = .some(before)
            }
            // The data under the new name was synced before the rename (else it carries over).
            s.files[to] = s.files.removeValue(forKey: from).map { f in
                var g = f
                g.created = false
                return g
            }
        }
    }

    /// Counts one event, and takes the crash image when it is due (before the event's effect).
    private func update(_ path: String, _ body: (inout State) -> Void) {
        state.withLock { s in
            s.events += 1
            s.seen.insert(path)
            if var crash = s.pendingCrash, crash.only.map({ path.contains($0) }) ?? true {
                crash.counted += 1
                s.pendingCrash = crash
            }
            if let crash = s.pendingCrash, crash.counted >= crash.event {
                s.pendingCrash = nil
                do {
                    try Self.image(s, root: root, into: crash.target, seed: crash.seed)
                } catch {
                    FileHandle.standardError.write(Data("power-loss simulator: cannot take the crash image: \(error)\n".utf8))
                }
                s.crashTaken = true
            }
            body(&s)
        }
    }

    // MARK: The image

    private static func image(_ s: State, root: String, into target: String, seed: UInt64) throws {
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: root, toPath: target)
        // SQLite's shared-memory WAL index is rebuilt from the WAL by the first connection.
        if let names = FileManager.default.enumerator(atPath: target) {
            for case let name as String in names where name.hasSuffix("-shm") { unlink(target + "/" + name) }
        }
        var random = SplitMix64(seed: seed)
        func coin() -> Bool { random.next() & 1 == 0 }
        func copied(_ path: String) -> String { target + path.dropFirst(root.count) }
        for (path, f) in s.files.sorted(by: { $0.key < $1.key }) {
            let t = copied(path)
            if f.created, coin() {
                unlink(t)
                continue
            }
            let fd = open(t, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let current = size(fd)
            for (block, content) in f.durableBlocks.sorted(by: { $0.key < $1.key }) where coin() {
                // A block that was past the end then reads as zeroes where it held nothing.
                let padded = content + [UInt8](repeating: 0, count: Int(blockSize) - content.count)
                _ = padded.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(block * blockSize)) }
            }
            let length = f.durableSize.map { coin() ? $0 : current } ?? current
            _ = ftruncate(fd, off_t(length))
        }
        for (path, before) in s.renamed.sorted(by: { $0.key < $1.key }) where coin() {
            let t = copied(path)
            unlink(t)
            if let before { try Data(before).write(to: URL(fileURLWithPath: t)) }
        }
    }

    private static func size(_ fd: Int32) -> Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    private static func read(_ fd: Int32, block: Int64) -> [UInt8] {
        (try? POSIXFile.read(fd, count: Int(blockSize), at: block * blockSize, path: "")) ?? []
    }
}

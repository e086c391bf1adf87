import AFSSupport
import AFSClient
import AFSCore
import Foundation
import Synchronization

/// File contents on local disk, keyed by content identity and shared by every mount on the machine.
///
/// Equal content has an equal content ID in AetherFS, whichever session, fork or store it belongs
/// to, so a file is fetched once and then served from here to every session that holds it: a fork
/// of a session read before is hot at once. Entries are immutable files named by their ID
/// (`DIR/content/ab/abcd…`), written to an unnamed file (`O_TMPFILE`) in their shard and linked
/// into place once complete and checked, so concurrent fetches (from this mount or another
/// process) race harmlessly and a crash leaves no torn entry.
/// The cache is bounded by `maxBytes`: past it, the least recently used entries are unlinked
/// (a reader that has one open keeps reading it; POSIX keeps the inode alive).
public final class ContentCache: Sendable {
    /// `[cache]` in config.toml.
    public struct Configuration: Sendable, Equatable {
        /// Root of the cache (`content/` and the mounts' `scratch/` live inside).
        public var directory: String
        public var maxBytes: UInt64

        public init(directory: String, maxBytes: UInt64) {
            self.directory = directory
            self.maxBytes = maxBytes
        }

        public static let defaultMaxBytes: UInt64 = 4 << 30

        /// `[cache] dir` and `max_bytes` from the config file, else `$XDG_CACHE_HOME/aether` (or
        /// `~/.cache/aether`) and 4 GiB.
        public static func load(
            _ config: ClientConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws(AFSError) -> Configuration {
            let directory: String
            if let dir = config["cache.dir"], !dir.isEmpty {
                directory = dir
            } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
                directory = xdg + "/aether"
            } else {
                directory = (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/aether"
            }
            var maxBytes = defaultMaxBytes
            if let raw = config["cache.max_bytes"] {
                guard let n = UInt64(raw.replacingOccurrences(of: "_", with: "")), n > 0 else {
                    throw AFSError(.invalidArgument, "[cache] max_bytes must be a positive number of bytes, not \(raw)")
                }
                maxBytes = n
            }
            return Configuration(directory: directory, maxBytes: maxBytes)
        }
    }

    /// Entries and bytes held, for status and tests.
    public struct Usage: Sendable, Equatable, Codable {
        public var entries: Int
        public var bytes: UInt64
    }

    /// Opens answered from disk and opens that had to fetch, since this process opened the cache.
    public struct Lookups: Sendable, Equatable, Codable {
        public var hits: UInt64
        public var misses: UInt64
    }

    private struct Entry {
        var size: UInt64
        var lastUse: UInt64
        /// When this process last wrote the recency into the file's mtime (nil: not yet).
        var persisted: ContinuousClock.Instant?
    }

    /// How stale the recency kept in an entry's mtime may get: a minute is fine-grained enough
    /// for eviction after a restart, and a hit then costs no inode write (a warm tree read opens
    /// every file).
    static let recencyGranularity: Duration = .seconds(60)

    private struct Index {
        var entries: [String: Entry] = [:]
        var bytes: UInt64 = 0
        var clock: UInt64 = 0
    }

    public let configuration: Configuration
    let contentDirectory: String
    let temporaryDirectory: String
    private let index = Locked(Index())
    private let hits = Atomic<UInt64>(0)
    private let misses = Atomic<UInt64>(0)

    /// Opens (creating) the cache directory and indexes what earlier runs left there, oldest
    /// modification time first (a hit touches the file, so mtime is the last use).
    public init(_ configuration: Configuration) throws(AFSError) {
        self.configuration = configuration
        contentDirectory = configuration.directory + "/content"
        temporaryDirectory = configuration.directory + "/content/tmp"
        do {
            try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create the cache directory \(temporaryDirectory): \(error)")
        }
        var found: [(id: String, size: UInt64, mtime: Int)] = []
        let fm = FileManager.default
        for shard in (try? fm.contentsOfDirectory(atPath: contentDirectory)) ?? [] where shard.count == 2 {
            for name in (try? fm.contentsOfDirectory(atPath: contentDirectory + "/" + shard)) ?? [] {
                var st = Glibc.stat()
                guard ContentCache.isValidID(name), stat(contentDirectory + "/" + shard + "/" + name, &st) == 0 else { continue }
                found.append((name, UInt64(st.st_size), st.st_mtim.tv_sec))
            }
        }
        // Fetches that died halfway leave temporaries; an hour is far longer than any live fetch.
        let hourAgo = Int(Date().timeIntervalSince1970) - 3600
        for name in (try? fm.contentsOfDirectory(atPath: temporaryDirectory)) ?? [] {
            var st = Glibc.stat()
            if stat(temporaryDirectory + "/" + name, &st) == 0, st.st_mtim.tv_sec < hourAgo { unlink(temporaryDirectory + "/" + name) }
        }
        found.sort { $0.mtime < $1.mtime }
        index.withLock { ix in
            for item in found {
                ix.clock += 1
                ix.entries[item.id] = Entry(size: item.size, lastUse: ix.clock)
                ix.bytes += item.size
            }
        }
        evictIfNeeded()
    }

    /// Content IDs name files here, so only plain lowercase hex is accepted: a hostile server
    /// cannot steer a path out of the cache.
    static func isValidID(_ id: String) -> Bool {
        id.utf8.count >= 8 && id.utf8.count <= 128 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func path(for id: String) -> String {
        contentDirectory + "/" + id.prefix(2) + "/" + id
    }

    /// A read-only descriptor on the content `id` (of `size` bytes), fetched with `fetch` (which
    /// writes the whole content into the descriptor it is given) when not cached. The caller closes it.
    ///
    /// `beforeFetch` runs on a miss, before fetching: it may wait for someone else's fetch of the
    /// same content (a readahead lane) and return false to look in the cache again instead.
    func open(
        _ id: String, size: UInt64, beforeFetch: () -> Bool = { true }, fetch: (Int32) throws(AFSError) -> Void
    ) throws(AFSError) -> Int32 {
        guard ContentCache.isValidID(id) else { throw AFSError(.corrupted, "content id '\(id.prefix(80))' is not a hex digest") }
        let target = path(for: id)
        var fd = Glibc.open(target, O_RDONLY | O_CLOEXEC)
        if fd < 0, !beforeFetch() { fd = Glibc.open(target, O_RDONLY | O_CLOEXEC) }
        if fd >= 0 {
            var st = Glibc.stat()
            if fstat(fd, &st) == 0, UInt64(st.st_size) == size {
                touch(id, size: size, fd: fd)
                hits.add(1, ordering: .relaxed)
                return fd
            }
            // A short entry can only come from outside tampering; replace it.
            close(fd)
            unlink(target)
            forget(id)
        }
        misses.add(1, ordering: .relaxed)
        return try fetchEntry(id, size: size, fetch: fetch)
    }

    /// A fetched file on its way to becoming an entry: unnamed (`O_TMPFILE`, linked into place),
    /// or, where the file system has no unnamed files, at a temporary name (renamed into place).
    private enum Fetched {
        case unnamed
        case named(String)
    }

    /// Fetches `id` into a new entry and returns a descriptor on it (the one it was written
    /// through: a cold open costs no second open of the entry). The unnamed file is made in the
    /// entry's own shard, so fetches of different contents do not all wait on one directory.
    private func fetchEntry(_ id: String, size: UInt64, fetch: (Int32) throws(AFSError) -> Void) throws(AFSError) -> Int32 {
        let shard = contentDirectory + "/" + id.prefix(2)
        mkdir(shard, 0o755)
        var fd = Glibc.open(shard, ScratchPool.temporaryFileFlag | O_RDWR | O_CLOEXEC, 0o444)
        var fetched = Fetched.unnamed
        if fd < 0 {
            let temporary = temporaryDirectory + "/\(id.prefix(16)).\(getpid()).\(RandomID.hex(bytes: 4))"
            fd = Glibc.open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
            guard fd >= 0 else { throw AFSError(.io, "cannot create \(temporary) in the content cache: \(String(cString: strerror(errno)))") }
            fetched = .named(temporary)
        }
        do throws(AFSError) {
            try fetch(fd)
            var st = Glibc.stat()
            guard fstat(fd, &st) == 0, UInt64(st.st_size) == size else {
                throw AFSError(.corrupted, "fetched \(st.st_size) bytes for content \(id), expected \(size)")
            }
            try admit(fetched, descriptor: fd, as: id, size: size)
        } catch {
            if case .named(let temporary) = fetched { unlink(temporary) }
            close(fd)
            throw error
        }
        // At the start, as a fresh open would be (the fetch and the hash moved the offset).
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    /// Makes the complete file `fetched` (open as `descriptor`) the entry for `id`, or removes
    /// it. Only bytes that hash to the ID enter the cache: the file may have changed between
    /// learning its ID and fetching it, and every session on the machine shares entries. An entry
    /// another fetch put in place meanwhile stays (its bytes hash to the same ID).
    private func admit(_ fetched: Fetched, descriptor: Int32, as id: String, size: UInt64) throws(AFSError) {
        let target = path(for: id)
        do throws(AFSError) {
            guard try ChunkedContent.contentID(ofDescriptor: descriptor).hex == id else {
                throw AFSError(.corrupted, "fetched bytes do not hash to content \(id) (the file changed meanwhile)")
            }
            switch fetched {
            case .unnamed:
                // Made in its shard, which exists (``fetchEntry(_:size:fetch:)``).
                guard linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, target, AT_SYMLINK_FOLLOW) == 0 || errno == EEXIST else {
                    throw AFSError(.io, "cannot link fetched content into \(target): \(String(cString: strerror(errno)))")
                }
            case .named(let temporary):
                mkdir(contentDirectory + "/" + id.prefix(2), 0o755)
                guard rename(temporary, target) == 0 else {
                    throw AFSError(.io, "cannot move fetched content into \(target): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            if case .named(let temporary) = fetched { unlink(temporary) }
            throw error
        }
        index.withLock { ix in
            ix.clock += 1
            if let old = ix.entries[id] { ix.bytes -= old.size }
            ix.entries[id] = Entry(size: size, lastUse: ix.clock)
            ix.bytes += size
        }
        evictIfNeeded(keeping: id)
    }

    private func touch(_ id: String, size: UInt64, fd: Int32) {
        let now = ContinuousClock.now
        let (known, persist) = index.withLock { ix -> (Bool, Bool) in
            ix.clock += 1
            if let entry = ix.entries[id] {
                ix.entries[id]!.lastUse = ix.clock
                let persist = entry.persisted.map { now - $0 >= Self.recencyGranularity } ?? true
                if persist { ix.entries[id]!.persisted = now }
                return (true, persist)
            }
            // Fetched by another process sharing the directory.
            ix.entries[id] = Entry(size: size, lastUse: ix.clock, persisted: now)
            ix.bytes += size
            return (false, true)
        }
        // The mtime carries recency across restarts.
        if persist { futimens(fd, nil) }
        if !known { evictIfNeeded(keeping: id) }
    }

    private func forget(_ id: String) {
        index.withLock { ix in
            if let old = ix.entries.removeValue(forKey: id) { ix.bytes -= old.size }
        }
    }

    /// Unlinks least recently used entries until the cache is within 90 % of its budget (the
    /// slack keeps eviction from running on every fetch once full).
    private func evictIfNeeded(keeping keep: String? = nil) {
        let victims: [String] = index.withLock { ix in
            guard ix.bytes > configuration.maxBytes else { return [] }
            let goal = configuration.maxBytes / 10 * 9
            var out: [String] = []
            for (id, entry) in ix.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) where id != keep {
                if ix.bytes <= goal { break }
                ix.entries[id] = nil
                ix.bytes -= entry.size
                out.append(id)
            }
            return out
        }
        for id in victims { unlink(path(for: id)) }
    }

    public var usage: Usage {
        index.withLock { Usage(entries: $0.entries.count, bytes: $0.bytes) }
    }

    public var lookups: Lookups {
        Lookups(hits: hits.load(ordering: .relaxed), misses: misses.load(ordering: .relaxed))
    }

    /// Makes sure the content `id` (of `size` bytes) is cached, fetching it with `fetch` if not
    /// (`aether cache prefetch`). Returns whether it had to fetch.
    @discardableResult
    public func fill(_ id: String, size: UInt64, fetch: (Int32) throws(AFSError) -> Void) throws(AFSError) -> Bool {
        var fetched = false
        let fd = try open(id, size: size) { (fd) throws(AFSError) in
            fetched = true
            try fetch(fd)
        }
        close(fd)
        return fetched
    }

    /// Entries and bytes under `configuration.directory`, counted without opening the cache (no
    /// directory is created, nothing is evicted): what `aether cache status` reports.
    public static func measure(_ configuration: Configuration) -> Usage {
        var usage = Usage(entries: 0, bytes: 0)
        let content = configuration.directory + "/content"
        let fm = FileManager.default
        for shard in (try? fm.contentsOfDirectory(atPath: content)) ?? [] where shard.count == 2 {
            for name in (try? fm.contentsOfDirectory(atPath: content + "/" + shard)) ?? [] where isValidID(name) {
                var st = Glibc.stat()
                guard stat(content + "/" + shard + "/" + name, &st) == 0 else { continue }
                usage.entries += 1
                usage.bytes += UInt64(st.st_size)
            }
        }
        return usage
    }

    /// A sparse file for content `id` (of `size` bytes) that is not cached, to be filled block by
    /// block as it is read (``PartialContent``). It lives in the temporary directory: a crash
    /// leaves it to the hourly clean-up at the next start, never as an entry.
    func makePartial(_ id: String, size: UInt64) throws(AFSError) -> PartialContent {
        guard ContentCache.isValidID(id) else { throw AFSError(.corrupted, "content id '\(id.prefix(80))' is not a hex digest") }
        let temporary = temporaryDirectory + "/\(id.prefix(16)).\(getpid()).\(RandomID.hex(bytes: 4)).partial"
        let fd = Glibc.open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw AFSError(.io, "cannot create \(temporary) in the content cache: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw AFSError(.io, "cannot size \(temporary) to \(size) bytes: \(message)")
        }
        misses.add(1, ordering: .relaxed)
        return PartialContent(id: id, size: size, path: temporary, descriptor: fd)
    }

    /// Makes a complete ``PartialContent`` the entry for its ID, if its bytes hash to that ID
    /// (throws `corrupted` otherwise: some block came from another version of the file). Its
    /// descriptor stays valid for readers either way (it closes with the last reference).
    func adopt(_ partial: PartialContent) throws(AFSError) {
        try admit(.named(partial.path), descriptor: partial.descriptor, as: partial.id, size: partial.size)
    }

    /// Drops a ``PartialContent`` that will not be completed (the mount is ending).
    func discard(_ partial: PartialContent) {
        unlink(partial.path)
    }

    /// Whether `id` is held (by this index; another process may have evicted it since).
    func contains(_ id: String) -> Bool {
        index.withLock { $0.entries[id] != nil }
    }

    /// Removes every entry.
    public func clear() {
        let ids = index.withLock { ix in
            let ids = Array(ix.entries.keys)
            ix = Index()
            return ids
        }
        for id in ids { unlink(path(for: id)) }
    }
}

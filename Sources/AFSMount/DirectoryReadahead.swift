import AFSSupport
import Foundation

/// Fetches a directory's other small files into the content cache in the background once reads
/// show a program walking it: the second open in a directory that missed the cache within
/// ``window`` starts it (`tar -c`, `cp -r`, `grep -r`, a compiler reading a source tree).
///
/// Each cold open is a round trip to the service (a content fetch); a program reading a tree
/// waits for them one after another. Fetching the rest of the directory on a few lanes at once
/// overlaps those round trips, so the program's next opens find their content cached. One cold
/// open per directory (`git status` reading each `.gitignore`) starts nothing.
///
/// What it fetches comes from the directory's cached listing (names, sizes and content IDs), so
/// it costs no extra metadata call; each content is fetched once however many files share it,
/// and the cache admits only bytes that hash to their ID (a file changed meanwhile is dropped,
/// and its next open fetches the new content as usual). An open of a content whose fetch is
/// under way waits for it instead of fetching it again (``waitIfFetching(_:)``).
final class DirectoryReadahead: @unchecked Sendable {
    /// One content to fetch: a file's path (what the service reads) and its identity.
    struct Item: Sendable {
        var path: String
        var id: String
        var size: UInt64
    }

    /// Background fetches at once.
    let lanes: Int
    /// How close together two cold opens in a directory must be to start it.
    let window: Duration
    /// The most files and bytes one directory's readahead fetches.
    let maxFiles: Int
    let maxBytes: UInt64
    private let fetch: @Sendable (Item) -> Void

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var lastMiss: [String: ContinuousClock.Instant] = [:]
    private var started: [String: ContinuousClock.Instant] = [:]
    private var queue: [Item] = []
    private var fetching: Set<String> = []
    private var running = 0
    private var stopped = false

    /// - Parameter fetch: fetches one item into the cache (errors are its own to log or drop).
    init(lanes: Int = 4, window: Duration = .seconds(1), maxFiles: Int = 256, maxBytes: UInt64 = 32 << 20, fetch: @escaping @Sendable (Item) -> Void) {
        self.lanes = lanes
        self.window = window
        self.maxFiles = maxFiles
        self.maxBytes = maxBytes
        self.fetch = fetch
    }

    /// Notes an open in `directory` that missed the cache; returns true when it is the second
    /// within the window and no readahead of the directory started lately: the caller then
    /// hands over the directory's files (``enqueue(_:)``).
    func noteMiss(in directory: String) -> Bool {
        let now = ContinuousClock.now
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        if let at = started[directory], now - at < .seconds(60) { return false }
        defer { lastMiss[directory] = now }
        guard let previous = lastMiss[directory], now - previous < window else {
            if lastMiss.count > 4096 { lastMiss = lastMiss.filter { now - $0.value < window } }
            return false
        }
        started[directory] = now
        if started.count > 4096 { started = started.filter { now - $0.value < .seconds(60) } }
        return true
    }

    /// Queues `items` (in the order a program walking the directory reads them), up to the
    /// limits, skipping contents already queued or being fetched; starts lanes as needed.
    func enqueue(_ items: [Item]) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        var files = 0
        var bytes: UInt64 = 0
        var queued = Set(queue.map(\.id))
        for item in items where !fetching.contains(item.id) && !queued.contains(item.id) {
            guard files < maxFiles, bytes + item.size <= maxBytes else { break }
            queue.append(item)
            queued.insert(item.id)
            files += 1
            bytes += item.size
        }
        while running < lanes, running < queue.count {
            running += 1
            let thread = Thread { [self] in drain() }
            thread.name = "aether-readahead"
            thread.start()
        }
    }

    /// Waits while the content `id` is being fetched in the background (at most `limit`), so
    /// an open takes it from the cache instead of fetching it a second time. A queued content
    /// not yet started is taken out of the queue: the open fetches it itself.
    func waitIfFetching(_ id: String, limit: Duration = .seconds(10)) {
        condition.lock()
        defer { condition.unlock() }
        queue.removeAll { $0.id == id }
        let deadline = Date().addingTimeInterval(limit.inSeconds)
        while fetching.contains(id), condition.wait(until: deadline) {}
    }

    /// Drops what is queued and lets the lanes finish the fetch each has under way.
    func stop() {
        condition.lock()
        stopped = true
        queue.removeAll()
        condition.unlock()
    }

    private func drain() {
        while true {
            condition.lock()
            guard !stopped, !queue.isEmpty else {
                running -= 1
                condition.unlock()
                return
            }
            let item = queue.removeFirst()
            fetching.insert(item.id)
            condition.unlock()
            fetch(item)
            condition.lock()
            fetching.remove(item.id)
            condition.broadcast()
            condition.unlock()
        }
    }
}

import AFSSupport
import Foundation

/// Fetches a directory's other small files into the content cache in the background once reads
/// show a program walking it: the second open in a directory that missed the cache within
/// ``window`` starts it (`tar -c`, `cp -r`, `grep -r`, a compiler reading a source tree).
///
/// Each cold open is a round trip to the service (a content fetch); a program reading a tree
/// waits for them one after another. The readahead fetches the files it expects next in batches
/// (one request for up to ``batchFiles`` files, their bytes streamed in the order asked) on a few
/// lanes at once, so the program's next opens find their content cached and a remote mount pays
/// one round trip per batch instead of one per file. One cold open per directory (`git status`
/// reading each `.gitignore`) starts nothing.
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
    /// The most files one fetch asks for. Fewer when the queue is short, so every lane gets work.
    let batchFiles: Int
    /// How close together two cold opens in a directory must be to start it.
    let window: Duration
    /// The most files and bytes of a walk's first step; later steps are larger (``plans``).
    let maxFiles: Int
    let maxBytes: UInt64
    private let cached: @Sendable (String) -> Bool
    private let fetch: @Sendable ([Item], _ fetched: (Item) -> Void) -> Void
    /// The most walks whose next steps are remembered (``plans``).
    static let maxPlans = 16

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var lastMiss: [String: ContinuousClock.Instant] = [:]
    private var started: [String: ContinuousClock.Instant] = [:]
    private var queue: [Item] = []
    private var fetching: Set<String> = []
    /// The rest of a walk beyond what was queued, by the content whose open queues the next
    /// step (the first file of the last step), with the next step's size (a multiple of
    /// ``maxFiles`` and ``maxBytes``). As the kernel's page readahead does, each step starts when
    /// the walk enters the one before and is twice its size, up to ``maxStepScale``: the fetches
    /// stay ahead of a walk of any length, and a walk that stops has had at most twice what it
    /// read (and a first step) fetched.
    private var plans: [String: (rest: ArraySlice<Item>, scale: Int)] = [:]
    /// The largest step, in multiples of the first.
    static let maxStepScale = 8
    private var running = 0
    private var stopped = false

    /// - Parameter cached: whether a content is in the cache already (a later step of a walk
    ///   skips what the walk's own opens fetched meanwhile).
    /// - Parameter fetch: fetches a batch of items into the cache, calling `fetched` for each
    ///   as soon as it is cached, so an open waiting for it goes on while the rest arrive
    ///   (errors are its own to log or drop).
    init(
        lanes: Int = 4, batchFiles: Int = 32, window: Duration = .seconds(1), maxFiles: Int = 256, maxBytes: UInt64 = 32 << 20,
        cached: @escaping @Sendable (String) -> Bool, fetch: @escaping @Sendable ([Item], _ fetched: (Item) -> Void) -> Void
    ) {
        self.lanes = lanes
        self.batchFiles = batchFiles
        self.window = window
        self.maxFiles = maxFiles
        self.maxBytes = maxBytes
        self.cached = cached
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

    /// Queues `items` (in the order a program walking the directory reads them), a step of at
    /// most ``maxFiles`` files and ``maxBytes`` bytes, skipping contents already cached, queued
    /// or being fetched; the rest waits for the walk to reach the step (``noteOpen(_:)``).
    /// Starts lanes as needed.
    func enqueue(_ items: [Item]) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return }
        queueStep(items[...], scale: 1)
    }

    /// Notes that an open is about to read the content `id`: when it is a walk's marker, the
    /// walk's next step is queued.
    func noteOpen(_ id: String) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped, let plan = plans.removeValue(forKey: id) else { return }
        queueStep(plan.rest, scale: plan.scale)
    }

    /// ``enqueue(_:)`` with the lock held.
    private func queueStep(_ items: ArraySlice<Item>, scale: Int) {
        var step: [String] = []
        var bytes: UInt64 = 0
        var queued = Set(queue.map(\.id))
        var rest = items
        while let item = rest.first {
            if fetching.contains(item.id) || queued.contains(item.id) || cached(item.id) {
                rest.removeFirst()
                continue
            }
            guard step.count < maxFiles * scale, bytes + item.size <= maxBytes * UInt64(scale) else { break }
            queue.append(item)
            queued.insert(item.id)
            step.append(item.id)
            bytes += item.size
            rest.removeFirst()
        }
        if !rest.isEmpty, !step.isEmpty {
            if plans.count >= Self.maxPlans, let oldest = plans.keys.first { plans[oldest] = nil }
            plans[step[0]] = (rest, min(scale * 2, Self.maxStepScale))
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
        plans.removeAll()
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
            // An equal share of the queue for each lane, up to a batch: the first files of the
            // walk arrive from the first lane while the others fetch what comes after.
            let count = min(batchFiles, max(1, (queue.count + lanes - 1) / lanes))
            let batch = Array(queue.prefix(count))
            queue.removeFirst(count)
            for item in batch { fetching.insert(item.id) }
            condition.unlock()
            fetch(batch) { item in
                condition.lock()
                fetching.remove(item.id)
                condition.broadcast()
                condition.unlock()
            }
            condition.lock()
            for item in batch { fetching.remove(item.id) }
            condition.broadcast()
            condition.unlock()
        }
    }
}

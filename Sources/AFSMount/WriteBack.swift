import AFSCore
import AFSSupport
import Foundation

/// The mount's changes on their way to the service: acknowledged to programs at once, sent by a
/// few worker threads, in an order that keeps every path's history.
///
/// A durable service call per `close`, `unlink` and `mkdir` made `tar -x` and `rm -rf` a round
/// trip (and, embedded, an `fsync`) per file. With write-back, those operations are checked
/// against what the mount knows (the kernel has already checked permissions and existence), then
/// queued; the caller returns, and the workers send the queue concurrently, so the service
/// group-commits many changes per durable write. `fsync` still returns only once the file is
/// durable, as on a local disk; `aether sync` (and unmount, and a live checkpoint) waits for
/// everything queued.
///
/// **Order.** Two changes *conflict* when their paths are equal or one lies below the other. A
/// change starts only once every earlier conflicting one has finished, so each path sees its
/// changes in the order programs made them (`mkdir d` before the files in `d`, the unlinks in `d`
/// before `rmdir d`), while changes to unrelated paths run side by side. Operations the mount
/// still performs synchronously (rename, chmod, utimens, link, …) take their place in the same
/// order through ``perform(_:_:)``: they wait for what they depend on and hold back later changes
/// that depend on them.
///
/// **What the mount shows meanwhile.** A queued `mkdir` shows its directory and a queued removal
/// hides its path (``lookup(_:)``, ``children(of:)``); files waiting to be published stay in the
/// open-file table, which answers before anything else. A change the service refuses later (a
/// path another client removed meanwhile, a quota) cannot fail the call that queued it: it is
/// logged, counted and reported by the next ``drain()`` (`aether sync` exits non-zero), and the
/// mount's view falls back to what the service holds.
///
/// With ``WritePolicy/synchronous`` (`aether mount --sync-close`) every change runs in the caller's thread
/// and its errors reach the program: the behaviour before write-back, for who wants `close()` to
/// mean "durable and visible everywhere".
final class WriteBack: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`.

    /// ``condition``'s two conditions. Workers wait for `ready` (a change they may start); the
    /// callers of ``drain()``, ``perform(_:_:)`` and a full ``submit(_:operation:pending:linger:batchable:_:)``
    /// wait for `progress` (a change finished). One broadcast for both woke all eight workers
    /// for every file `tar -x` closed: 32,000 context switches for 1,069 entries, a third of the
    /// mount's CPU (Docs/perf/profiles.md).
    private static let ready = 0
    private static let progress = 1

    /// What a queued change makes of its path until the service has it.
    enum Pending: Sendable, Equatable {
        /// Created as a directory (`mkdir`) with these attributes.
        case directory(FileAttributes)
        /// An existing directory whose mode or times change to these (`tar -x` sets them last).
        case changed(FileAttributes)
        /// Removed (`unlink`, `rmdir`).
        case absent
    }

    /// A queued change that can travel with others in one service call (``AetherService/apply(_:_:context:)``).
    struct Batchable: Sendable {
        enum Prepared {
            /// Send this.
            case change(BatchChange)
            /// Nothing is left to send (a file unlinked meanwhile): done.
            case nothing
            /// Not as part of a batch (a large file, another owner): run the item's own body.
            case alone
        }

        /// Called when the change is sent, in queue order.
        let prepare: @Sendable () -> Prepared
        /// Takes the change's outcome, or the error of the whole call; returns the refusal to
        /// record, if any.
        let finish: @Sendable (Result<BatchOutcome, Errno>) -> Errno?
    }

    /// A change the service refused after its caller had returned.
    struct Failure: Sendable, Equatable {
        var path: String
        var operation: String
        var error: Errno
    }

    private final class Item {
        let id: UInt64
        let path: String
        let operation: String
        /// Nil for a change its caller performs itself (``perform(_:_:)``).
        let body: (@Sendable () throws(Errno) -> Void)?
        let batchable: Batchable?
        let extraPaths: [String]
        /// Not sent before this, unless someone waits for it (``WriteBack/submit(_:operation:pending:linger:batchable:_:)``).
        let notBefore: ContinuousClock.Instant?
        var started = false
        /// Its paths as ``PathConflictSet`` keys, made when first needed (a change that is sent
        /// at once never needs them).
        lazy var conflictKeys: [PathConflictSet.Key] = paths.map(PathConflictSet.Key.init)
        /// It showed its path as a directory not yet at the service (``Pending/directory(_:)``).
        var showsCreation = false

        init(
            id: UInt64, path: String, operation: String, extraPaths: [String], batchable: Batchable? = nil, notBefore: ContinuousClock.Instant? = nil,
            body: (@Sendable () throws(Errno) -> Void)?
        ) {
            self.id = id
            self.path = path
            self.operation = operation
            self.extraPaths = extraPaths
            self.batchable = batchable
            self.notBefore = notBefore
            self.body = body
        }

        var paths: [String] { [path] + extraPaths }
    }

    let policy: WritePolicy
    /// Threads sending queued changes.
    let workers: Int
    /// Callers block once this many changes are queued (each queued file holds descriptors).
    let limit: Int
    private let log: @Sendable (String) -> Void
    /// Sends a batch of changes in one call; nil: every change goes alone.
    private let send: (@Sendable ([BatchChange]) throws(Errno) -> [BatchOutcome])?
    /// Told the paths of changes the service has just applied (or refused), before they count as
    /// finished, so what it does is done before a ``drain()`` returns; with the queue, to look up
    /// what is still pending.
    private let landed: (@Sendable (WriteBack, [String]) -> Void)?
    /// Most changes, and bytes written, per batch: well under the service's limits (1,000
    /// changes; a 4 MiB JSON body, in which bytes travel as base64).
    static let batchChanges = 128
    static let batchBytes = 2 << 20
    /// Batches sent at once. Few on purpose: while they are in flight the queue fills, and the
    /// next batch takes all of it (one call and one durable write for many changes). With a
    /// worker free for every change, each call carried one change and paid its own `fsync`.
    static let batchesInFlight = 2
    /// How long the publication of a file the mount created waits for a removal that makes it
    /// moot (``submit(_:operation:pending:linger:batchable:_:)``). `git status` drops its
    /// `index.lock` 2–5 ms after taking it on a repository of a thousand files; sending it and
    /// its removal cost a remote mount 3 ms of a 10 ms status (Docs/perf/profiles.md).
    static let newFileLinger = Duration.milliseconds(25)
    private var batchesSending = 0
    private let condition = ConditionLock(conditions: 2)
    /// Workers waiting for `ready`.
    private var idleWorkers = 0
    /// Callers waiting for `progress` (``drain()``, ``perform(_:_:)``, a full queue): while any
    /// wait, lingering changes go at once.
    private var waiting = 0
    /// When a worker sleeping until the next lingering change is due wakes up; nil: none sleeps so.
    private var alarm: ContinuousClock.Instant?
    /// Changes not finished, in the order they were made (started ones included).
    private var items: [Item] = []
    private var nextID: UInt64 = 1
    /// The newest queued change of each path that alters what the mount shows for it.
    private var overlay: [String: (id: UInt64, pending: Pending)] = [:]
    private var failures: [Failure] = []
    private var failureCount = 0
    private var stopping = false
    private var workersRunning = 0
    /// Changes sent by the workers since the mount started, for metrics.
    private var sent: UInt64 = 0
    /// Changes only the first `window` queued ones are considered when a worker looks for one it
    /// may start: enough to keep every worker busy, and a bound on the scan.
    private let window = 256
    /// At most this many refusals are kept for the next drain (all are counted and logged).
    private let failureLimit = 1000
    /// Pauses before retrying a change whose call failed for a reason that may pass (`EIO`: the
    /// service was unreachable, or answered 5xx).
    static let retryPauses: [Double] = [0.2, 1, 3]

    init(
        policy: WritePolicy, workers: Int = 8, limit: Int = 1024,
        send: (@Sendable ([BatchChange]) throws(Errno) -> [BatchOutcome])? = nil, landed: (@Sendable (WriteBack, [String]) -> Void)? = nil,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.policy = policy
        self.workers = max(1, workers)
        self.limit = max(1, limit)
        self.send = send
        self.landed = landed
        self.log = log
    }

    /// Starts the workers (none in ``WritePolicy/synchronous``).
    func start() {
        guard policy == .writeBack else { return }
        condition.lock()
        workersRunning = workers
        condition.unlock()
        for n in 0..<workers {
            let thread = Thread { [self] in work() }
            thread.name = "aether-writeback-\(n)"
            thread.start()
        }
    }

    /// Sends what is queued, then stops the workers.
    func stop() -> [Failure] {
        let left = drain()
        condition.lock()
        stopping = true
        condition.broadcast(WriteBack.ready)
        condition.broadcast(WriteBack.progress)
        while workersRunning > 0 { condition.wait(WriteBack.progress) }
        condition.unlock()
        return left
    }

    // MARK: Making changes

    /// Queues a change of `path` (with ``WritePolicy/synchronous``, runs it now and throws its error).
    /// `pending` is what the mount shows for `path` until it lands; `body` is the service call.
    /// Blocks while the queue is full.
    /// With `batchable`, a worker may send it in one call with other queued changes.
    ///
    /// With `linger`, it is not sent for that long unless something waits for it (``drain()``,
    /// an ``perform(_:_:)`` of a conflicting path, a full queue, ``stop()``): a file that is
    /// created and removed meanwhile (`git status` takes `index.lock` and drops it a few
    /// milliseconds later, every time) then never reaches the service.
    func submit(
        _ path: String, operation: String, pending: Pending?, linger: Duration? = nil, batchable: Batchable? = nil,
        _ body: @escaping @Sendable () throws(Errno) -> Void
    ) throws(Errno) {
        guard policy == .writeBack else {
            try perform([path]) { () throws(Errno) in try body() }
            return
        }
        condition.lock()
        if items.count >= limit && !stopping {
            waitForProgress { items.count >= limit && !stopping }
        }
        let item = Item(
            id: nextID, path: path, operation: operation, extraPaths: [], batchable: send == nil ? nil : batchable,
            notBefore: linger.map { .now + $0 }, body: body)
        nextID += 1
        if case .directory? = pending { item.showsCreation = true }
        items.append(item)
        if let pending { overlay[path] = (item.id, pending) }
        if item.notBefore != nil {
            // A worker sleeps until the first lingering change is due; this one is due later.
            if alarm == nil { wakeWorker() }
        } else if item.batchable == nil || batchesSending < WriteBack.batchesInFlight {
            // A batchable change waits for a batch slot: the worker ending a batch takes it then.
            wakeWorker()
        }
        condition.unlock()
    }

    /// Runs `body` in the caller's thread once every earlier change conflicting with `paths` has
    /// finished; changes queued meanwhile that conflict with `paths` wait for it. Never call it
    /// holding a lock a queued change needs (a file's transfer lock): that change may be the one
    /// it waits for.
    func perform<T>(_ paths: [String], _ body: () throws(Errno) -> T) throws(Errno) -> T {
        condition.lock()
        let item = Item(id: nextID, path: paths.first ?? "/", operation: "", extraPaths: Array(paths.dropFirst()), body: nil)
        nextID += 1
        items.append(item)
        if !mayStart(item) { waitForProgress { !mayStart(item) } }
        item.started = true
        condition.unlock()
        defer { finish(item) }
        return try body()
    }

    // MARK: What the mount shows

    /// What a queued change makes of `path`: its own pending state, or `absent` when it would be
    /// a child of a directory still being created or removed (the service has no such child);
    /// nil when nothing queued concerns it.
    func lookup(_ path: String) -> Pending? {
        condition.lock()
        defer { condition.unlock() }
        if overlay.isEmpty { return nil }
        if let own = overlay[path] { return own.pending }
        guard path != "/" else { return nil }
        switch overlay[MountPath.parent(of: path)]?.pending {
        case .directory?, .absent?: return .absent
        case .changed?, nil: return nil
        }
    }

    /// Queued changes of entries directly in `directory`: names to hide or to add to a listing.
    func children(of directory: String) -> [(name: String, pending: Pending)] {
        condition.lock()
        defer { condition.unlock() }
        if overlay.isEmpty { return [] }
        return overlay.compactMap { path, entry in
            path != "/" && MountPath.parent(of: path) == directory ? (MountPath.name(of: path), entry.pending) : nil
        }
    }

    /// Paths with a change not yet at the service (git's monitor reports them as changed).
    var pendingPaths: [String] {
        condition.lock()
        defer { condition.unlock() }
        return items.filter { $0.body != nil }.map(\.path)
    }

    /// Changes queued or running, sent so far, and refused so far.
    var counts: (queued: Int, sent: UInt64, failed: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (items.count, sent, failureCount)
    }

    /// Waits until every change queued before the call has finished; returns (and forgets) the
    /// changes the service refused since the last drain.
    func drain() -> [Failure] {
        condition.lock()
        let last = nextID
        if items.contains(where: { $0.id < last }) { waitForProgress { items.contains(where: { $0.id < last }) } }
        let refused = failures
        failures = []
        condition.unlock()
        return refused
    }

    // MARK: Running changes

    /// Wakes one idle worker, if any, to look for a change to start. Caller holds the lock.
    private func wakeWorker() {
        if idleWorkers > 0 { condition.signal(WriteBack.ready) }
    }

    /// Waits for `progress` while `blocked` holds, counted as waiting: lingering changes are due
    /// at once (what is waited for may be one of them). Caller holds the lock.
    private func waitForProgress(while blocked: () -> Bool) {
        waiting += 1
        if items.contains(where: { !$0.started && $0.notBefore != nil }) { wakeWorker() }
        while blocked() { condition.wait(WriteBack.progress) }
        waiting -= 1
    }

    /// Whether a queued change not started yet is due (it may still wait for another). Caller
    /// holds the lock.
    private func hasStartable() -> Bool {
        let now = ContinuousClock.now
        return items.prefix(window).contains { !$0.started && $0.body != nil && isDue($0, now) }
    }

    /// Whether `item` may be sent now as far as its linger goes. Caller holds the lock.
    private func isDue(_ item: Item, _ now: ContinuousClock.Instant) -> Bool {
        guard let notBefore = item.notBefore else { return true }
        return waiting > 0 || stopping || now >= notBefore
    }

    /// Two paths conflict when they are equal or one is below the other.
    /// Byte comparisons: `String.hasPrefix` compares by Unicode equivalence, which session paths
    /// (compared byte for byte everywhere else) must not, and which costs more in this hot loop.
    static func conflict(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.utf8, b.utf8)
        if x.count == y.count { return x.elementsEqual(y) }
        let (short, long) = x.count < y.count ? (x, y) : (y, x)
        if short.count == 1 { return true }  // "/"
        guard long.starts(with: short) else { return false }
        return long[long.index(long.startIndex, offsetBy: short.count)] == UInt8(ascii: "/")
    }

    /// Whether `item` may start: no earlier unfinished change conflicts with it. Caller holds
    /// the lock.
    private func mayStart(_ item: Item) -> Bool {
        let paths = item.paths
        for other in items {
            if other === item { return true }
            for p in other.paths where paths.contains(where: { WriteBack.conflict($0, p) }) { return false }
        }
        return true
    }

    private func finish(_ item: Item, failure: Failure? = nil) {
        finish([(item, failure)])
    }

    /// Ends changes that finished together (a batch's, in queue order): one wake-up of the
    /// waiters and of a worker for all of them. Finishing a batch of 128 one by one woke a worker
    /// to look for work 128 times, while nothing could start before the last.
    private func finish(_ done: [(item: Item, failure: Failure?)]) {
        condition.lock()
        for (item, failure) in done {
            if let i = items.firstIndex(where: { $0 === item }) { items.remove(at: i) }
            if overlay[item.path]?.id == item.id {
                overlay[item.path] = nil
            } else if failure == nil, item.showsCreation, let later = overlay[item.path], case .directory(let attributes) = later.pending {
                // The directory is at the service now (changes of one path land in order, so the
                // mkdir has): a change queued after it (cp -a and tar -x set a directory's times once
                // its entries are in) must no longer show it as absent there, else its entries that
                // landed meanwhile, no longer open or queued, vanish from listings and lookups.
                overlay[item.path] = (later.id, .changed(attributes))
            }
            if item.body != nil { sent += 1 }
            if let failure {
                failureCount += 1
                if failures.count < failureLimit { failures.append(failure) }
            }
        }
        condition.broadcast(WriteBack.progress)
        // A change that waited for these may start now.
        if hasStartable() { wakeWorker() }
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            var picked: [Item] = []
            while picked.isEmpty {
                if stopping {
                    workersRunning -= 1
                    condition.broadcast(WriteBack.progress)
                    condition.unlock()
                    return
                }
                picked = pick()
                if picked.isEmpty {
                    idleWorkers += 1
                    let due = items.prefix(window).lazy.filter { !$0.started }.compactMap(\.notBefore).min()
                    if alarm == nil, let due {
                        // Nothing to send now; one worker wakes when the first lingering change is due.
                        alarm = due
                        condition.wait(WriteBack.ready, timeout: due - .now)
                        alarm = nil
                    } else {
                        condition.wait(WriteBack.ready)
                    }
                    idleWorkers -= 1
                }
            }
            for item in picked { item.started = true }
            // More may be startable (a change going alone, a second batch): one more worker looks.
            if items.count > picked.count, hasStartable() { wakeWorker() }
            condition.unlock()
            if picked.count == 1, picked[0].batchable == nil {
                finish(picked[0], failure: runAlone(picked[0]))
            } else {
                runBatch(picked)
            }
        }
    }

    /// The next change a worker may start and, when it can travel in a batch, the queued changes
    /// that may go with it: each waits for nothing but changes before it in the same batch.
    /// One pass over the window: the paths of every earlier change not in the batch (started,
    /// waiting, or a synchronous ``perform(_:_:)``) are what a later one must not conflict with;
    /// they enter the set only once a later change asks (a window of changes in flight or
    /// lingering asks nothing). Caller holds the lock.
    private func pick() -> [Item] {
        let batching = batchesSending < WriteBack.batchesInFlight
        let now = ContinuousClock.now
        var earlier = PathConflictSet()
        var notYetInSet: [Item] = []
        func free(_ item: Item) -> Bool {
            for other in notYetInSet { for key in other.conflictKeys { earlier.insert(key) } }
            notYetInSet.removeAll(keepingCapacity: true)
            return !item.conflictKeys.contains { earlier.conflicts(with: $0) }
        }
        var batch: [Item] = []
        for item in items.prefix(window) {
            if batch.isEmpty {
                if !item.started, item.body != nil, batching || item.batchable == nil, isDue(item, now), free(item) {
                    guard item.batchable != nil else { return [item] }
                    batchesSending += 1
                    batch.append(item)
                    continue
                }
            } else if !item.started, item.batchable != nil, isDue(item, now), free(item) {
                batch.append(item)
                if batch.count == WriteBack.batchChanges { break }
                continue
            }
            notYetInSet.append(item)
        }
        return batch
    }

    /// Sends `picked` (in queue order) in as few calls as the limits allow; a change that must go
    /// alone splits the batch, so order is kept.
    private func runBatch(_ picked: [Item]) {
        defer {
            condition.lock()
            batchesSending -= 1
            if hasStartable() { wakeWorker() }
            condition.unlock()
        }
        var pending: [(Item, BatchChange)] = []
        var bytes = 0
        func flush() {
            guard !pending.isEmpty else { return }
            let sent = pending
            pending = []
            bytes = 0
            let result = sendWithRetries(sent.map(\.1))
            landed?(self, sent.flatMap(\.0.paths))
            var done: [(item: Item, failure: Failure?)] = []
            done.reserveCapacity(sent.count)
            for (i, (item, _)) in sent.enumerated() {
                let outcome: Result<BatchOutcome, Errno>
                switch result {
                case .success(let outcomes): outcome = .success(outcomes[i])
                case .failure(let error): outcome = .failure(error)
                }
                let refusal = item.batchable!.finish(outcome)
                if let refusal {
                    log("write-back: \(item.operation) \(item.path) failed: \(refusal); the change is lost (run `aether sync` to see refused changes)")
                }
                done.append((item, refusal.map { Failure(path: item.path, operation: item.operation, error: $0) }))
            }
            finish(done)
        }
        for item in picked {
            guard let batchable = item.batchable else {
                flush()
                finish(item, failure: runAlone(item))
                continue
            }
            switch batchable.prepare() {
            case .nothing:
                finish(item)
            case .alone:
                flush()
                finish(item, failure: runAlone(item))
            case .change(let change):
                let size = change.data?.count ?? 0
                if bytes + size > WriteBack.batchBytes { flush() }
                pending.append((item, change))
                bytes += size
            }
        }
        flush()
    }

    /// One batch call, retried while the service is unreachable.
    private func sendWithRetries(_ changes: [BatchChange]) -> Result<[BatchOutcome], Errno> {
        guard let send else { return .failure(.io) }
        var attempt = 0
        while true {
            do throws(Errno) {
                return .success(try send(changes))
            } catch {
                if error == .io, attempt < WriteBack.retryPauses.count {
                    Thread.sleep(forTimeInterval: WriteBack.retryPauses[attempt])
                    attempt += 1
                    continue
                }
                return .failure(error)
            }
        }
    }

    /// ``run(_:)``, then tells ``landed`` about it.
    private func runAlone(_ item: Item) -> Failure? {
        let failure = run(item)
        landed?(self, item.paths)
        return failure
    }

    /// Runs a queued change, retrying while the service is unreachable; the refusal, if any.
    private func run(_ item: Item) -> Failure? {
        guard let body = item.body else { return nil }
        var attempt = 0
        while true {
            do throws(Errno) {
                try body()
                return nil
            } catch {
                if error == .io, attempt < WriteBack.retryPauses.count {
                    Thread.sleep(forTimeInterval: WriteBack.retryPauses[attempt])
                    attempt += 1
                    continue
                }
                log("write-back: \(item.operation) \(item.path) failed: \(error); the change is lost (run `aether sync` to see refused changes)")
                return Failure(path: item.path, operation: item.operation, error: error)
            }
        }
    }
}

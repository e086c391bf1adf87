import Foundation
import GRDB

/// Group commit for the SQLite catalog: writes that arrive while a commit is running wait for it,
/// then the first of them commits all of them in one transaction, one WAL append and one
/// `fdatasync` (with `synchronous=FULL`).
///
/// Each write runs inside its own savepoint, so one that throws is rolled back alone and its
/// caller gets its error while the others commit; a failed commit fails every write of the batch.
/// A write is durable when `write` returns, as before. One writer alone pays what it paid before
/// (one transaction); N concurrent writers (forks of different sessions, checkpoints, leases) pay
/// about two commits instead of N.
final class CatalogGroupCommit: @unchecked Sendable {
    // @unchecked: `pending` and `leading` are guarded by `condition`; an item's fields are written
    // by the leader before `finished` is set under the same lock, and read by its owner after.
    private let condition = NSCondition()
    private var pending: [Item] = []
    private var leading = false
    /// Batches committed (for tests: fewer than writes means writes shared commits).
    private(set) var commits = 0

    private final class Item {
        let run: (Database) -> Void
        var finished = false
        var commitFailure: (any Error)?

        init(run: @escaping (Database) -> Void) { self.run = run }
    }

    /// Runs `body` in a transaction shared with the writes that queue up meanwhile; returns once
    /// that transaction is committed (or throws what `body` or the commit threw).
    func write<T>(on queue: DatabaseQueue, _ body: (Database) throws -> T) throws -> T {
        try withoutActuallyEscaping(body) { body in
            var result: Result<T, any Error>?
            // The closure escapes only into the batch; this call waits until the batch ran it.
            let item = Item { db in
                do {
                    var value: T?
                    try db.inSavepoint {
                        value = try body(db)
                        return .commit
                    }
                    result = .success(value!)
                } catch {
                    result = .failure(error)
                }
            }
            condition.lock()
            pending.append(item)
            while !item.finished {
                if leading {
                    condition.wait()
                    continue
                }
                leading = true
                let batch = pending
                pending.removeAll()
                condition.unlock()
                var failure: (any Error)?
                do {
                    try queue.writeWithoutTransaction { db in
                        try db.inTransaction(.immediate) {
                            for i in batch { i.run(db) }
                            return .commit
                        }
                    }
                } catch {
                    failure = error
                }
                condition.lock()
                commits += 1
                for i in batch {
                    i.commitFailure = failure
                    i.finished = true
                }
                leading = false
                condition.broadcast()
            }
            condition.unlock()
            if let failure = item.commitFailure { throw failure }
            return try result!.get()
        }
    }
}

import Foundation

/// Leader/follower group commit: many writers, one `fdatasync` per batch.
///
/// A writer appends under its own lock, takes a ticket with `noteAppended()`, and calls
/// `waitDurable(ticket)`. The first waiter whose ticket is not yet durable becomes the leader and
/// syncs everything appended so far; writers that arrive while it syncs wait and are usually
/// covered by the next sync, so N concurrent writers cost about two syncs instead of N.
///
/// Public for ``JournalLog`` implementations outside the engine (a database-backed journal
/// commits one transaction per batch the same way).
public final class GroupCommit: @unchecked Sendable {
    // @unchecked: every stored property is guarded by `condition`.
    private let condition = NSCondition()
    private var appended: UInt64 = 0
    private var durable: UInt64 = 0
    private var syncing = false
    private var failure: AFSError?
    /// The last failed batch (retryable mode): its waiters get its error.
    private var failedBatch: (error: AFSError, through: UInt64)?
    private let failureIsFinal: Bool
    /// How many syncs have run, failed ones included: fewer than writers means batching worked.
    public private(set) var syncCount: UInt64 = 0

    /// A committer with no batch in flight.
    ///
    /// - Parameter failureIsFinal: whether one failed sync fails every later wait. True for
    ///   `fdatasync`, whose failure leaves the page cache in an unknown state (the fsyncgate
    ///   lesson); false for a commit that can be retried safely, such as an idempotent database
    ///   transaction: the waiters of the failed batch get the error, later ones try again.
    public init(failureIsFinal: Bool = true) {
        self.failureIsFinal = failureIsFinal
    }

    /// Records that bytes were appended; the returned ticket is durable once a sync starting after this call ends.
    public func noteAppended() -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        appended += 1
        return appended
    }

    /// The latest ticket handed out, to wait on "everything so far".
    public var latest: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return appended
    }

    /// Returns once `ticket` is durable without ever running a sync itself: for a thread that
    /// follows the writers (who each wait with ``waitDurable(_:sync:)``, so one of them leads),
    /// and must not take the lead from them, which would cost each a hand-off.
    public func waitFollowing(_ ticket: UInt64) throws(AFSError) {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let failure { throw failure }
            if durable >= ticket { return }
            if let failedBatch, ticket <= failedBatch.through { throw failedBatch.error }
            condition.wait()
        }
    }

    /// Returns once `ticket` is durable, running `sync` as the leader when needed.
    public func waitDurable(_ ticket: UInt64, sync: () throws(AFSError) -> Void) throws(AFSError) {
        condition.lock()
        while true {
            if let failure {
                condition.unlock()
                throw failure
            }
            if durable >= ticket {
                condition.unlock()
                return
            }
            if let failedBatch, ticket <= failedBatch.through {
                condition.unlock()
                throw failedBatch.error
            }
            if !syncing {
                syncing = true
                let target = appended
                condition.unlock()
                var error: AFSError?
                do { try sync() } catch let e { error = e }
                condition.lock()
                syncing = false
                syncCount += 1
                if let error {
                    if failureIsFinal {
                        // A failed fdatasync leaves the page cache state unknown: refuse all later writes
                        // rather than acknowledging data that may be gone (the fsyncgate lesson).
                        failure = error
                    } else {
                        failedBatch = (error, target)
                    }
                } else {
                    durable = max(durable, target)
                }
                condition.broadcast()
                continue
            }
            condition.wait()
        }
    }
}

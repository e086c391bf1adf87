import AFSSupport
import CFUSE3
import Foundation
import Synchronization

/// Serves a FUSE session's requests on a fixed pool of threads until the session ends.
///
/// Why not libfuse's `fuse_session_loop_mt`: when its session ends it stops the workers still
/// blocked reading /dev/fuse with `pthread_cancel`, inside the intercepted `read`. ThreadSanitizer
/// cannot follow a thread cancelled there (the process aborts with "thread finished with ignores
/// enabled"), so the mount daemon, the most concurrent code we have, could not be checked for
/// races. Here every worker leaves on its own:
/// - an unmount aborts the FUSE connection, and every blocked read returns ENODEV;
/// - a signal that ends the session (libfuse's handlers mark it exited) is followed by
///   a no-op signal to each worker still reading, from the loop's waker thread: its read returns
///   EINTR and it sees the mark. The waker looks every 100 ms and repeats the signal until the
///   workers are gone, so one that lands just before a worker re-enters `read` is not lost. (A
///   signal may be handled on any thread, and libfuse's handler only sets the mark.)
///
/// The pool is started whole. libfuse's loop starts threads on demand and by default destroys a
/// thread that finds others idle; the mount had already pinned its idle limit to the pool size
/// because a burst of requests otherwise cost a thread per request. The kernel wakes one reader
/// per request, so idle workers cost nothing but their stacks and buffers (touched only as used).
final class FUSELoop: @unchecked Sendable {
    // @unchecked: `session` is only handed to libfuse's receive/process/exit calls, which are safe
    // from several threads at once (its own loop makes the same calls from every worker);
    // `reading` is behind a lock and `failure` is atomic.
    private let session: OpaquePointer
    private let workerCount: Int
    /// The workers that have not left their loop yet: only these may be signalled (signalling a
    /// thread that has exited is undefined), and a worker removes itself under the same lock.
    private let reading = Locked<[pthread_t]>([])
    private let failure = Atomic<Int32>(0)

    /// The signal that interrupts a worker's read. Its handler must be installed without
    /// SA_RESTART (`afs_install_wakeup_handler`), or the read would simply resume.
    static let wakeupSignal = SIGUSR1

    init(session: OpaquePointer, workers: Int) {
        self.session = session
        self.workerCount = max(1, workers)
    }

    /// Runs the pool (the calling thread is one of its workers) until the session ends. Returns 0
    /// when it ended by an unmount or a signal, or the negative errno of the read that failed.
    func run() -> Int32 {
        afs_install_wakeup_handler(FUSELoop.wakeupSignal)
        let done = Atomic<Bool>(false)
        let waker = Thread { [self] in
            while !done.load(ordering: .acquiring) {
                wakeWorkers()
                usleep(100_000)
            }
        }
        waker.name = "aether-fuse-waker"
        waker.start()
        defer { done.store(true, ordering: .releasing) }
        let finished = DispatchGroup()
        for index in 1..<workerCount {
            finished.enter()
            let thread = Thread { [self] in
                serve()
                finished.leave()
            }
            thread.name = "aether-fuse-\(index)"
            thread.start()
        }
        serve()
        finished.wait()
        return failure.load(ordering: .acquiring)
    }

    /// Interrupts every worker blocked in its read once the session is marked exited.
    private func wakeWorkers() {
        guard fuse_session_exited(session) != 0 else { return }
        reading.withLock { threads in
            for thread in threads { pthread_kill(thread, FUSELoop.wakeupSignal) }
        }
    }

    private func serve() {
        let me = pthread_self()
        reading.withLock { $0.append(me) }
        // libfuse allocates the buffer on the first read (its size follows the negotiated
        // max_write) and reuses it; with splice it may hand back a pipe instead.
        var buffer = fuse_buf()
        while fuse_session_exited(session) == 0 {
            let received = fuse_session_receive_buf(session, &buffer)
            if received == -EINTR { continue }
            if received <= 0 {
                // 0: the connection is gone (unmounted; libfuse marked the session exited).
                if received < 0 {
                    failure.compareExchange(expected: 0, desired: received, ordering: .acquiringAndReleasing)
                    fuse_session_exit(session)
                }
                break
            }
            fuse_session_process_buf(session, &buffer)
        }
        reading.withLock { threads in threads.removeAll { pthread_equal($0, me) != 0 } }
        free(buffer.mem)
    }
}

import AFSCore
import AFSSupport
import Glibc

/// The unnamed local files that hold what programs write through the mount until it is
/// published, kept for reuse instead of created and deleted for every file.
///
/// Every file created on the mount needs one (`O_TMPFILE` next to the cache), and every one
/// was deleted when its file was published. On ext4, creating an inode while many were deleted
/// lately walks the inode table past them (`recently_deleted`): `tar -x` of 1,069 entries spent a
/// tenth of the mount's CPU there, and a single `O_TMPFILE` open took up to 0.6 ms
/// (Docs/perf/profiles.md). A released scratch file is emptied (`ftruncate`) and kept, up to
/// ``capacity``; the next `create` takes it with its times set to now, as a new file's are.
///
/// A recycled descriptor must be one nothing else uses any more: ``OpenFile`` hands its scratch
/// back only when it is retired (no handle, no publication in flight).
final class ScratchPool: Sendable {
    /// Where new scratch files are made.
    let directory: String
    /// How many emptied files are kept at most.
    let capacity: Int
    private let spare = UnfairLocked<[Int32]>([])

    init(directory: String, capacity: Int = 64) {
        self.directory = directory
        self.capacity = capacity
    }

    deinit {
        for fd in spare.withLock({ $0 }) { close(fd) }
    }

    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), a composite macro Swift does not import.
    static let temporaryFileFlag: Int32 = 0o20000000 | O_DIRECTORY

    /// An empty scratch file, read-write, whose times are now.
    func take() throws(Errno) -> Int32 {
        while let fd = spare.withLock({ $0.popLast() }) {
            // A new file's times are those of its creation; the truncation set them earlier.
            if futimens(fd, nil) == 0 { return fd }
            close(fd)
        }
        let fd = Glibc.open(directory, ScratchPool.temporaryFileFlag | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Errno(errno) }
        return fd
    }

    /// Takes back a scratch file nothing uses any more: emptied and kept, or closed when the
    /// pool is full or it cannot be emptied.
    func recycle(_ fd: Int32) {
        guard fd >= 0 else { return }
        var kept = false
        if ftruncate(fd, 0) == 0 {
            kept = spare.withLock { s in
                guard s.count < capacity else { return false }
                s.append(fd)
                return true
            }
        }
        if !kept { close(fd) }
    }

    /// Scratch files kept for reuse.
    var spareCount: Int { spare.withLock { $0.count } }
}

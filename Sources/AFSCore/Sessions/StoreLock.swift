import Foundation

/// One store, one owner: an exclusive `flock` on `DIR/LOCK`, holding the owner's pid.
///
/// The lock belongs to the open file description, so it is released by the kernel when the process
/// dies (kill -9 included) and a crashed owner never leaves the store locked.
final class StoreLock: Sendable {
    private let file: POSIXFile

    private init(file: POSIXFile) { self.file = file }

    /// Takes the lock, retrying for up to `wait` seconds while another process holds it.
    static func acquire(directory: String, wait: Double = 0) throws(AFSError) -> StoreLock {
        let path = directory + "/LOCK"
        let file = try POSIXFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o644)
        let deadline = Date().addingTimeInterval(wait)
        while flock(file.fd, LOCK_EX | LOCK_NB) != 0 && Date() < deadline {
            usleep(20_000)
        }
        if flock(file.fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? file.read(count: 64, at: 0)).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            let pid = holder.isEmpty ? "unknown" : holder
            throw AFSError(
                .storeLocked,
                "store \(directory) is in use by process \(pid); stop that process (or talk to it) before opening the store again")
        }
        try file.truncate(to: 0)
        try file.write(Array("\(getpid())\n".utf8), at: 0)
        return StoreLock(file: file)
    }

    func release() {
        _ = try? file.truncate(to: 0)
        flock(file.fd, LOCK_UN)
    }
}

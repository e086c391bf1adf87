import Foundation
import Glibc
import Testing

@testable import AFSMount

/// The scratch files a mount reuses: a recycled one comes back empty, with the times of a new
/// file, and the pool keeps no more than its capacity (the rest are closed).
@Suite struct ScratchPoolTests {
    func makeDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scratch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func size(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : -1
    }

    func modified(_ fd: Int32) -> Int64 {
        var st = stat()
        fstat(fd, &st)
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    @Test func aRecycledFileComesBackEmptyWithNewTimes() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pool = ScratchPool(directory: directory, capacity: 4)
        let fd = try pool.take()
        let bytes = [UInt8](repeating: 7, count: 50_000)
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == 50_000)
        // An old time, as `touch -d` would leave it: a reused file must not show it.
        var old = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(futimens(fd, &old) == 0)
        pool.recycle(fd)
        #expect(pool.spareCount == 1)
        let before = OpenFile.now()
        let again = try pool.take()
        #expect(again == fd, "the spare descriptor is handed out again")
        #expect(size(again) == 0)
        #expect(modified(again) >= before - 1_000_000_000, "a reused scratch file has the times of a new one")
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(buffer.withUnsafeMutableBytes { pread(again, $0.baseAddress, $0.count, 0) } == 0, "none of the old bytes are readable")
        pool.recycle(again)
    }

    @Test func thePoolKeepsAtMostItsCapacity() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pool = ScratchPool(directory: directory, capacity: 2)
        let fds = try (0..<4).map { _ in try pool.take() }
        #expect(Set(fds).count == 4)
        for fd in fds { pool.recycle(fd) }
        #expect(pool.spareCount == 2, "the two beyond the capacity were closed, not kept")
        #expect(Set([try pool.take(), try pool.take()]).isSubset(of: Set(fds[0..<2])), "the spare ones are the first two recycled")
        // Nothing was ever named in the directory (O_TMPFILE).
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func aMissingDirectoryIsAClearError() {
        let pool = ScratchPool(directory: "/nonexistent-\(UUID().uuidString)")
        #expect(throws: Errno.notFound) { try pool.take() }
    }
}

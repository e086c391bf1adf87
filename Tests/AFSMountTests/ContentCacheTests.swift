import AFSClient
import AFSCore
import Foundation
import AFSTestSupport
import Testing

@testable import AFSMount

@Suite(.offCooperativePool) struct ContentCacheTests {
    static func directory() -> String { "/var/tmp/afs-cache-\(UUID().uuidString.prefix(8))" }

    /// A fetch that writes `bytes` and counts its calls.
    final class Source: @unchecked Sendable {
        // @unchecked: used by one test thread.
        var fetches = 0
        func fetch(_ bytes: [UInt8]) -> (Int32) throws(AFSError) -> Void {
            { fd in
                self.fetches += 1
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    /// The store's content ID of `bytes` (what the cache checks fetched bytes against).
    static func id(_ bytes: [UInt8]) throws -> String {
        let path = "/var/tmp/afs-cache-id-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        return try ChunkedContent.contentID(ofDescriptor: fd).hex
    }

    static func contents(_ fd: Int32) -> [UInt8] {
        var st = stat()
        fstat(fd, &st)
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        _ = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return out
    }

    @Test func fetchesOnceAndSharesByContentID() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try ContentCache(.init(directory: dir, maxBytes: 1 << 20))
        let source = Source()
        let bytes = Array("shared content".utf8)
        let id = try Self.id(bytes)
        let a = try cache.open(id, size: UInt64(bytes.count), fetch: source.fetch(bytes))
        let b = try cache.open(id, size: UInt64(bytes.count), fetch: source.fetch(bytes))
        defer { close(a); close(b) }
        #expect(source.fetches == 1)
        #expect(Self.contents(a) == bytes && Self.contents(b) == bytes)
        #expect(cache.usage == .init(entries: 1, bytes: UInt64(bytes.count)))
        // The fetching open hands back the descriptor it wrote through, at the start like a fresh
        // open; the entry is in place under its ID and no temporary is left.
        var first = [UInt8](repeating: 0, count: bytes.count + 1)
        #expect(first.withUnsafeMutableBytes { read(a, $0.baseAddress, $0.count) } == bytes.count)
        #expect(Array(first.prefix(bytes.count)) == bytes)
        #expect(FileManager.default.fileExists(atPath: dir + "/content/" + id.prefix(2) + "/" + id))
        #expect((try FileManager.default.contentsOfDirectory(atPath: dir + "/content/tmp")).isEmpty)
        // A second cache on the same directory (another mount) finds the entry without fetching.
        let other = try ContentCache(.init(directory: dir, maxBytes: 1 << 20))
        let c = try other.open(id, size: UInt64(bytes.count), fetch: source.fetch(bytes))
        close(c)
        #expect(source.fetches == 1)
    }

    @Test func evictsLeastRecentlyUsedPastItsBudget() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try ContentCache(.init(directory: dir, maxBytes: 3000))
        let source = Source()
        let blobs = (1...4).map { [UInt8](repeating: UInt8($0), count: 1000) }
        let ids = try blobs.map(Self.id)
        for i in 0..<3 { close(try cache.open(ids[i], size: 1000, fetch: source.fetch(blobs[i]))) }
        // Touch the first so the second is the least recently used.
        close(try cache.open(ids[0], size: 1000, fetch: source.fetch([])))
        close(try cache.open(ids[3], size: 1000, fetch: source.fetch(blobs[3])))
        #expect(cache.usage.bytes <= 3000)
        #expect(cache.contains(ids[0]))
        #expect(!cache.contains(ids[1]))
        #expect(!FileManager.default.fileExists(atPath: cache.path(for: ids[1])))
        #expect(cache.contains(ids[3]))
        cache.clear()
        #expect(cache.usage == .init(entries: 0, bytes: 0))
    }

    @Test func refusesIDsThatAreNotHexAndShortFetches() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try ContentCache(.init(directory: dir, maxBytes: 1 << 20))
        let source = Source()
        #expect(throws: AFSError.self) { try cache.open("../../etc/passwd", size: 1, fetch: source.fetch([1])) }
        #expect(source.fetches == 0)
        let short = #expect(throws: AFSError.self) { try cache.open("deadbeef00", size: 10, fetch: source.fetch([1, 2])) }
        #expect(short?.code == .corrupted)
        #expect(!cache.contains("deadbeef00"))
        // Bytes of the right size that are not the content (the file changed between its stat
        // and the fetch) never enter the cache under that ID.
        let expected = [UInt8](repeating: 5, count: 3000)
        let changed = #expect(throws: AFSError.self) {
            try cache.open(try Self.id(expected), size: 3000, fetch: source.fetch([UInt8](repeating: 6, count: 3000)))
        }
        #expect(changed?.code == .corrupted)
        #expect(!cache.contains(try Self.id(expected)))
        #expect((try FileManager.default.contentsOfDirectory(atPath: dir + "/content/tmp")).isEmpty)
    }

    @Test func configurationComesFromTheCacheSection() throws {
        let config = ClientConfiguration(values: ["cache.dir": "/srv/cache", "cache.max_bytes": "1_000_000"])
        #expect(try ContentCache.Configuration.load(config, environment: [:]) == .init(directory: "/srv/cache", maxBytes: 1_000_000))
        let defaults = try ContentCache.Configuration.load(ClientConfiguration(), environment: ["HOME": "/home/a"])
        #expect(defaults == .init(directory: "/home/a/.cache/aether", maxBytes: ContentCache.Configuration.defaultMaxBytes))
        #expect(throws: AFSError.self) { try ContentCache.Configuration.load(ClientConfiguration(values: ["cache.max_bytes": "lots"])) }
    }
}

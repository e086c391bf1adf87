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
        let a = try cache.open("aabbccdd00", size: UInt64(bytes.count), fetch: source.fetch(bytes))
        let b = try cache.open("aabbccdd00", size: UInt64(bytes.count), fetch: source.fetch(bytes))
        defer { close(a); close(b) }
        #expect(source.fetches == 1)
        #expect(Self.contents(a) == bytes && Self.contents(b) == bytes)
        #expect(cache.usage == .init(entries: 1, bytes: UInt64(bytes.count)))
        // A second cache on the same directory (another mount) finds the entry without fetching.
        let other = try ContentCache(.init(directory: dir, maxBytes: 1 << 20))
        let c = try other.open("aabbccdd00", size: UInt64(bytes.count), fetch: source.fetch(bytes))
        close(c)
        #expect(source.fetches == 1)
    }

    @Test func evictsLeastRecentlyUsedPastItsBudget() throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try ContentCache(.init(directory: dir, maxBytes: 3000))
        let source = Source()
        let ids = ["00000001aa", "00000002bb", "00000003cc"]
        for id in ids { close(try cache.open(id, size: 1000, fetch: source.fetch([UInt8](repeating: 1, count: 1000)))) }
        // Touch the first so the second is the least recently used.
        close(try cache.open(ids[0], size: 1000, fetch: source.fetch([])))
        close(try cache.open("00000004dd", size: 1000, fetch: source.fetch([UInt8](repeating: 2, count: 1000))))
        #expect(cache.usage.bytes <= 3000)
        #expect(cache.contains(ids[0]))
        #expect(!cache.contains(ids[1]))
        #expect(!FileManager.default.fileExists(atPath: cache.path(for: ids[1])))
        #expect(cache.contains("00000004dd"))
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

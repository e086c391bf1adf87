import AFSSupport
import AFSCore
import Foundation

/// A bounded, content-addressed cache of records fetched from object storage, on the local disk.
///
/// A file per record, `<id>.c`, holding its raw bytes and their XXH3-64; a hit is checked against
/// that checksum before it is returned, so a damaged cache file is a miss, never wrong data. (The
/// bytes were checked against their identity, a SHA-256, when they came from the bucket; checking
/// SHA-256 again on every hit cost a third of warm-read throughput.) Past `maxBytes` the oldest
/// entries are removed. Nothing here needs to survive a crash: files are written to a temporary
/// name and renamed, and a cache that is lost is refetched.
final class LocalChunkCache: @unchecked Sendable {
    // @unchecked: `order` and `bytes` are guarded by `lock`; files are immutable once renamed.
    let directory: String
    let maxBytes: Int64
    private let lock = NSLock()
    /// Entries oldest first, with their sizes.
    private var order: [(ChunkID, Int)] = []
    private var sizes: [ChunkID: Int] = [:]
    private var bytes: Int64 = 0

    init(directory: String, maxBytes: Int64) throws(AFSError) {
        self.directory = directory
        self.maxBytes = maxBytes
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AFSError(.io, "cannot create the chunk cache \(directory): \(error.localizedDescription)")
        }
        // What an earlier run left, oldest first.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found: [(ChunkID, Int, Date)] = []
        for name in names {
            let path = directory + "/" + name
            guard name.hasSuffix(LocalChunkCache.suffix), let id = ChunkID(hex: String(name.dropLast(LocalChunkCache.suffix.count))),
                let a = try? FileManager.default.attributesOfItem(atPath: path)
            else {
                try? FileManager.default.removeItem(atPath: path)
                continue
            }
            found.append((id, (a[.size] as? Int) ?? 0, (a[.modificationDate] as? Date) ?? .distantPast))
        }
        for (id, size, _) in found.sorted(by: { $0.2 < $1.2 }) {
            order.append((id, size))
            sizes[id] = size
            bytes += Int64(size)
        }
    }

    /// Entry names end in this (names of another layout are removed at open).
    static let suffix = ".c"

    func path(_ id: ChunkID) -> String { directory + "/" + id.hex + LocalChunkCache.suffix }

    func get(_ id: ChunkID) -> [UInt8]? {
        guard lock.withLock({ sizes[id] != nil }), var entry = LocalChunkCache.readWhole(path(id)) else { return nil }
        let end = entry.count - 8
        guard end >= 0,
            entry.withUnsafeBytes({ UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: end, as: UInt64.self)) })
                == entry.withUnsafeBytes({ ContentHash.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<end])) })
        else {
            try? FileManager.default.removeItem(atPath: path(id))
            lock.withLock {
                if let size = sizes.removeValue(forKey: id) {
                    self.bytes -= Int64(size)
                    order.removeAll { $0.0 == id }
                }
            }
            return nil
        }
        entry.removeLast(8)
        return entry
    }

    /// A file's bytes, read straight into an array (no `Data` in between).
    private static func readWhole(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        var ok = true
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    ok = false
                    break
                }
                done += n
            }
            count = done
        }
        return ok ? bytes : nil
    }

    func put(_ id: ChunkID, _ raw: [UInt8]) {
        guard Int64(raw.count) <= maxBytes, lock.withLock({ sizes[id] == nil }) else { return }
        let temporary = path(id) + ".tmp-" + RandomID.hex(bytes: 4)
        var contents = Data(raw)
        withUnsafeBytes(of: raw.withUnsafeBytes { ContentHash.xxh3($0) }.littleEndian) { contents.append(contentsOf: $0) }
        guard FileManager.default.createFile(atPath: temporary, contents: contents), rename(temporary, path(id)) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            return
        }
        var evicted: [ChunkID] = []
        lock.withLock {
            guard sizes[id] == nil else { return }
            order.append((id, raw.count))
            sizes[id] = raw.count
            bytes += Int64(raw.count)
            while bytes > maxBytes, !order.isEmpty {
                let (old, size) = order.removeFirst()
                sizes[old] = nil
                bytes -= Int64(size)
                evicted.append(old)
            }
        }
        for old in evicted { try? FileManager.default.removeItem(atPath: path(old)) }
    }

    var usedBytes: Int64 { lock.withLock { bytes } }
}

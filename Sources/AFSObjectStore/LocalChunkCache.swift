import AFSCore
import Crypto
import Foundation

/// A bounded, content-addressed cache of records fetched from object storage, on the local disk.
///
/// A file per record, named by its identity and holding its raw bytes; a hit is checked against
/// that identity (SHA-256) before it is returned, so a damaged cache file is a miss, never wrong
/// data. Past `maxBytes` the oldest entries are removed. Nothing here needs to survive a crash:
/// files are written to a temporary name and renamed, and a cache that is lost is refetched.
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
            guard let id = ChunkID(hex: name), let a = try? FileManager.default.attributesOfItem(atPath: path) else {
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

    func path(_ id: ChunkID) -> String { directory + "/" + id.hex }

    func get(_ id: ChunkID) -> [UInt8]? {
        guard lock.withLock({ sizes[id] != nil }), let data = FileManager.default.contents(atPath: path(id)) else { return nil }
        let raw = [UInt8](data)
        guard ChunkID(rawBytes: Array(SHA256.hash(data: raw))) == id else {
            try? FileManager.default.removeItem(atPath: path(id))
            return nil
        }
        return raw
    }

    func put(_ id: ChunkID, _ raw: [UInt8]) {
        guard Int64(raw.count) <= maxBytes, lock.withLock({ sizes[id] == nil }) else { return }
        let temporary = path(id) + ".tmp-\(UUID().uuidString.prefix(8))"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(raw)), rename(temporary, path(id)) == 0 else {
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

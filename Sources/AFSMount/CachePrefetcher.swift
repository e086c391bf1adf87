import AFSClient
import AFSCore
import Foundation

/// Pulls the contents of a session's files under a path into the ``ContentCache`` ahead of use
/// (`aether cache prefetch`), so the first open on a mount is already a local read: a warm-up
/// before a build, or before going offline.
///
/// The file list comes from one service call (the session's manifest: path, size and content
/// identity of every file), and the contents not yet cached come in batched reads of up to
/// ``batchFiles`` files, so a large tree costs a request per batch, not per file; contents
/// shared by several files are fetched once.
public struct CachePrefetcher: Sendable {
    public struct Progress: Sendable {
        public var files: Int
        public var totalFiles: Int
        public var bytes: UInt64
        public var totalBytes: UInt64
    }

    public struct Report: Sendable, Codable, Equatable {
        public var session: String
        public var path: String
        /// Files under the path.
        public var files: Int
        /// Distinct contents among them.
        public var contents: Int
        /// Contents downloaded now, and those already cached.
        public var fetched: Int
        public var alreadyCached: Int
        public var bytes: UInt64
        public var fetchedBytes: UInt64
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case session, path, files, contents, fetched, bytes, seconds
            case alreadyCached = "already_cached"
            case fetchedBytes = "fetched_bytes"
        }
    }

    /// The most files, and about the most bytes, one batched read asks for.
    static let batchFiles = 256
    static let batchBytes: UInt64 = 64 << 20

    public let service: any AetherService & Sendable
    public let cache: ContentCache

    public init(service: any AetherService & Sendable, cache: ContentCache) {
        self.service = service
        self.cache = cache
    }

    /// Fetches every file under `path` (a directory, or one file) of `session` not yet cached.
    public func prefetch(
        session: String, under path: String = "/", progress: (@Sendable (Progress) -> Void)? = nil
    ) throws(AFSError) -> Report {
        let start = ContinuousClock.now
        let root = try SessionPath(path)
        if !root.isRoot {
            // A clear error for a missing path rather than an empty report.
            _ = try service.stat(session, path: root.description)
        }
        let prefix = root.isRoot ? "/" : root.description + "/"
        let files = try service.manifest(session).filter {
            $0.kind == .file && $0.contentID != nil && (root.isRoot || $0.path == root.description || $0.path.hasPrefix(prefix))
        }
        var seen: Set<String> = []
        var report = Report(session: session, path: root.description, files: files.count, contents: 0, fetched: 0, alreadyCached: 0, bytes: 0, fetchedBytes: 0, seconds: 0)
        let unique = files.filter { seen.insert($0.contentID!).inserted }
        report.contents = unique.count
        let totalBytes = unique.reduce(UInt64(0)) { $0 + $1.size }
        var done = 0
        func advance(_ file: ManifestEntry, fetched: Bool) {
            if fetched {
                report.fetched += 1
                report.fetchedBytes += file.size
            } else {
                report.alreadyCached += 1
            }
            report.bytes += file.size
            done += 1
            progress?(Progress(files: done, totalFiles: unique.count, bytes: report.bytes, totalBytes: totalBytes))
        }
        var missing: [ManifestEntry] = []
        for file in unique {
            if cache.contains(file.contentID!) { advance(file, fetched: false) } else { missing.append(file) }
        }
        // Batched reads: one request for many files (a file removed meanwhile is left out of
        // its batch and of the report).
        var rest = missing[...]
        while !rest.isEmpty {
            var batch: [String: ManifestEntry] = [:]
            var paths: [String] = []
            var bytes: UInt64 = 0
            while let file = rest.first, paths.count < Self.batchFiles, paths.isEmpty || bytes + file.size <= Self.batchBytes {
                batch[file.path] = file
                paths.append(file.path)
                bytes += file.size
                rest.removeFirst()
            }
            try service.readFiles(session, paths: paths) { (content) throws(AFSError) in
                guard let file = batch[content.path] else { return }
                let fetched = try cache.fill(file.contentID!, size: file.size) { (fd) throws(AFSError) in try content.copy(to: fd) }
                advance(file, fetched: fetched)
            }
        }
        let elapsed = ContinuousClock.now - start
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }
}

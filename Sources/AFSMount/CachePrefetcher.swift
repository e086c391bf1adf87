import AFSClient
import AFSCore
import Foundation

/// Pulls the contents of a session's files under a path into the ``ContentCache`` ahead of use
/// (`aether cache prefetch`), so the first open on a mount is already a local read: a warm-up
/// before a build, or before going offline.
///
/// The file list comes from one service call (the session's manifest: path, size and content
/// identity of every file), so a large tree costs one request plus one download per content not
/// yet cached; contents shared by several files are fetched once.
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
        for (i, file) in unique.enumerated() {
            let fetched = try cache.fill(file.contentID!, size: file.size) { (fd) throws(AFSError) in
                try service.copyFile(session, path: file.path, to: fd)
            }
            if fetched {
                report.fetched += 1
                report.fetchedBytes += file.size
            } else {
                report.alreadyCached += 1
            }
            report.bytes += file.size
            progress?(Progress(files: i + 1, totalFiles: unique.count, bytes: report.bytes, totalBytes: totalBytes))
        }
        let elapsed = ContinuousClock.now - start
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return report
    }
}

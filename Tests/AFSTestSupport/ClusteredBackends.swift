import AFSSupport
import AFSObjectStore
import Foundation
import Synchronization

/// One PostgreSQL server and one S3 server (SeaweedFS) shared by every clustered afs-server a test
/// process starts, each server on a database and a bucket prefix of its own. Started on first
/// use by the project's scripts, stopped when the test process exits.
public final class ClusteredBackends: Sendable {
    public let postgres: BackendProcess
    public let s3: BackendProcess

    private static let shared = Locked<ClusteredBackends?>(nil)

    /// The shared servers, started on first use.
    public static func start() throws -> ClusteredBackends {
        try shared.withLock { existing in
            if let existing { return existing }
            let postgres = try BackendProcess(.postgres)
            let s3: BackendProcess
            do { s3 = try BackendProcess(.seaweedfs) } catch {
                postgres.stop()
                throw error
            }
            let backends = ClusteredBackends(postgres: postgres, s3: s3)
            do {
                let location = try S3Location(url: "s3://\(bucket)?endpoint=\(s3.value("S3_ENDPOINT"))")
                try S3Client(location: location, credentials: .init(accessKeyID: s3.value("S3_ACCESS_KEY"), secretAccessKey: s3.value("S3_SECRET_KEY")))
                    .createBucket()
            } catch {
                postgres.stop()
                s3.stop()
                throw error
            }
            existing = backends
            atexit { ClusteredBackends.stopShared() }
            return backends
        }
    }

    /// The bucket every clustered test server keeps its packs in, each under its own prefix.
    public static let bucket = "aether-e2e"

    private init(postgres: BackendProcess, s3: BackendProcess) {
        self.postgres = postgres
        self.s3 = s3
    }

    private static func stopShared() {
        guard let backends = shared.withLock({ $0 }) else { return }
        backends.postgres.stop()
        backends.s3.stop()
    }

    /// A fresh database and bucket prefix: the afs-server arguments and environment that use them.
    public func newStore() throws -> (arguments: [String], environment: [String: String]) {
        let name = "store_" + UUID().uuidString.prefix(8).lowercased()
        _ = try postgres.psql("CREATE DATABASE \(name)")
        let url = postgres.value("PG_URL")
        let catalog = String(url[..<url.index(after: url.lastIndex(of: "/")!)]) + name + "?sslmode=disable"
        let objects = "s3://\(ClusteredBackends.bucket)/\(name)?endpoint=\(s3.value("S3_ENDPOINT"))"
        return (
            ["--catalog", catalog, "--objects", objects],
            ["AWS_ACCESS_KEY_ID": s3.value("S3_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY": s3.value("S3_SECRET_KEY")]
        )
    }
}

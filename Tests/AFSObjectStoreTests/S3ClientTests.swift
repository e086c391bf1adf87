import AFSCore
import AFSObjectStore
import AFSTestSupport
import Foundation
import Testing

/// The S3 client against a real S3 server (SeaweedFS's gateway, started by scripts/seaweedfs.sh):
/// signatures the server checks, objects, ranges, listings past one page, and each way a
/// backend can be wrong named in the error.
@Suite(.offCooperativePool, .serialized) struct S3ClientTests {
    static func client(_ s3: BackendProcess, bucket: String, prefix: String = "", secret: String? = nil) throws -> S3Client {
        let location = try S3Location(url: "s3://\(bucket)/\(prefix)?endpoint=\(s3.value("S3_ENDPOINT"))&region=us-east-1")
        return S3Client(location: location, credentials: .init(accessKeyID: s3.value("S3_ACCESS_KEY"), secretAccessKey: secret ?? s3.value("S3_SECRET_KEY")))
    }

    @Test func objectsRangesListingsAndErrors() throws {
        let s3 = try BackendProcess(.seaweedfs)
        defer { s3.stop() }
        let c = try Self.client(s3, bucket: "aether-test", prefix: "store1")
        // The bucket is missing until created; creating it twice is fine.
        #expect(throws: AFSError.self) { try c.checkBucket() }
        do { try c.checkBucket() } catch { #expect(error.code == .notFound && error.message.contains("aether-test"), "\(error)") }
        try c.createBucket()
        try c.createBucket()
        try c.checkBucket()

        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try c.put("packs/p1", bytes)
        #expect(try c.get("packs/p1") == bytes)
        #expect(try c.get("packs/p1", range: 1000..<1100) == Array(bytes[1000..<1100]))
        #expect(try c.size(of: "packs/p1") == 300_000)
        #expect(try c.size(of: "packs/none") == nil)
        do { _ = try c.get("packs/none") } catch { #expect(error.code == .notFound && error.message.contains("store1/packs/none"), "\(error)") }
        // Keys with characters that need encoding are signed and stored as given.
        try c.put("odd key/with+plus&amp=é", [1, 2, 3])
        #expect(try c.get("odd key/with+plus&amp=é") == [1, 2, 3])
        try c.put("empty", [])
        #expect(try c.get("empty") == [])

        // More than one page (the server's page is 1,000 keys).
        for i in 0..<1005 { try c.put("many/\(String(format: "%04d", i))", [UInt8(i & 0xff)]) }
        let listed = try c.list(prefix: "many/")
        #expect(listed.count == 1005)
        #expect(listed.first?.key == "many/0000" && listed.first?.size == 1 && listed.last?.key == "many/1004")
        let written = try #require(listed.first?.lastModified, "listings carry each object's LastModified")
        #expect(abs(written.timeIntervalSinceNow) < 600, "\(written) is when it was written")
        // The prefix keeps stores apart.
        let other = try Self.client(s3, bucket: "aether-test", prefix: "store2")
        #expect(try other.list().isEmpty)
        #expect(try c.list(prefix: "packs/").map(\.key) == ["packs/p1"])

        try c.delete("packs/p1")
        try c.delete("packs/p1")
        #expect(try c.size(of: "packs/p1") == nil)

        // Wrong credentials: refused by the server's signature check, and said so.
        let wrong = try Self.client(s3, bucket: "aether-test", prefix: "store1", secret: "not-the-secret")
        do {
            _ = try wrong.get("empty")
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.code == .forbidden && error.message.contains("AWS_SECRET_ACCESS_KEY"), "\(error)")
        }
    }

    @Test func anUnreachableEndpointIsNamed() throws {
        let location = try S3Location(url: "s3://aether-test?endpoint=http://127.0.0.1:9&region=us-east-1")
        let c = S3Client(location: location, credentials: .init(accessKeyID: "a", secretAccessKey: "b"), timeout: .seconds(2))
        do {
            try c.checkBucket()
            Issue.record("an unreachable endpoint answered")
        } catch {
            #expect(error.code == .unavailable && error.message.contains("127.0.0.1:9"), "\(error)")
        }
    }

    @Test func locationsParseOrSayWhatToWrite() throws {
        let l = try S3Location(url: "s3://my-bucket/a/b?endpoint=http://127.0.0.1:8333/&region=eu-west-1")
        #expect(l == S3Location(bucket: "my-bucket", prefix: "a/b/", endpoint: "http://127.0.0.1:8333", region: "eu-west-1"))
        #expect(try S3Location(url: "s3://bucket").endpoint == "https://s3.us-east-1.amazonaws.com")
        for bad in ["http://bucket", "s3://", "s3://Bad_Bucket", "s3://ok-bucket?endpoint=ftp://x", "s3://ok-bucket?colour=red", "s3://ok-bucket?endpoint=http://h/path"] {
            #expect(throws: AFSError.self, "\(bad)") { try S3Location(url: bad) }
        }
    }
}

import AFSCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The S3 calls the clustered backend needs (objects are immutable packs, so no multipart and
/// no versioning): put, get (whole or a byte range), head, delete, list, and bucket checks.
///
/// Every request is signed with ``SigV4Signer`` over its real payload hash, so the server
/// checks the body's integrity as well as who sent it. Idempotent requests (all of these: a
/// pack is written once under a name derived from its content) are retried on 5xx, 429 and
/// connection failures, three times with backoff. Errors are ``AFSError``s that name the bucket,
/// the key and what to check. Synchronous, because the engine is: each call runs on
/// ``Blocking``'s threads, never on the cooperative pool.
public final class S3Client: Sendable {
    public let location: S3Location
    let signer: SigV4Signer
    let client: HTTPClient
    let timeout: TimeAmount
    let maxAttempts = 4

    /// One object of a listing.
    public struct Object: Sendable, Equatable {
        public var key: String
        public var size: Int64
        /// When the object was written, by the server's clock (nil when the listing had no date).
        public var lastModified: Date?

        public init(key: String, size: Int64, lastModified: Date? = nil) {
            self.key = key
            self.size = size
            self.lastModified = lastModified
        }
    }

    /// One HTTP client for every S3Client of the process, never shut down (as `HTTPClient.shared`),
    /// but with a connect timeout: a refused or silent endpoint fails in seconds, not at the
    /// request deadline (AsyncHTTPClient retries refused connections until then).
    public static let sharedHTTPClient = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(3), read: .seconds(60))))

    public init(location: S3Location, credentials: SigV4Signer.Credentials, client: HTTPClient = S3Client.sharedHTTPClient, timeout: TimeAmount = .seconds(60)) {
        self.location = location
        self.signer = SigV4Signer(credentials: credentials, region: location.region)
        self.client = client
        self.timeout = timeout
    }

    // MARK: Objects

    /// Stores `bytes` under `key` (relative to the location's prefix).
    public func put(_ key: String, _ bytes: [UInt8]) throws(AFSError) {
        _ = try send("PUT", key: key, body: bytes, what: "write \(key)")
    }

    /// The object's bytes, or the `range` of them; `notFound` when there is no such object.
    public func get(_ key: String, range: Range<Int64>? = nil) throws(AFSError) -> [UInt8] {
        var headers: [(String, String)] = []
        if let range {
            guard !range.isEmpty else { return [] }
            headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        let reply = try send("GET", key: key, headers: headers, what: "read \(key)")
        if let range, reply.status != 206, reply.body.count != range.count {
            // A server that ignored the range sent the whole object: cut the range out of it.
            guard reply.body.count >= Int(range.upperBound) else {
                throw AFSError(.corrupted, "s3://\(location.bucket)/\(location.prefix)\(key) is \(reply.body.count) bytes; bytes \(range) were asked for")
            }
            return Array(reply.body[Int(range.lowerBound)..<Int(range.upperBound)])
        }
        return reply.body
    }

    /// The object's size, or nil when it does not exist.
    public func size(of key: String) throws(AFSError) -> Int64? {
        let reply = try send("HEAD", key: key, accept: [404], what: "look up \(key)")
        guard reply.status != 404 else { return nil }
        return reply.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0
    }

    /// Deletes the object (deleting a missing one succeeds, as S3 says).
    public func delete(_ key: String) throws(AFSError) {
        _ = try send("DELETE", key: key, accept: [404], what: "delete \(key)")
    }

    /// Every object whose key starts with `prefix` (relative to the location's prefix), in key
    /// order, a page of up to 1,000 at a time.
    public func list(prefix: String = "") throws(AFSError) -> [Object] {
        var out: [Object] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", location.prefix + prefix)]
            if let token { query.append(("continuation-token", token)) }
            let reply = try send("GET", key: nil, query: query, what: "list \(prefix)*")
            let page = S3XML(reply.body)
            for contents in page.elements("Contents") {
                guard let key = contents.first("Key"), key.hasPrefix(location.prefix) else { continue }
                out.append(Object(
                    key: String(key.dropFirst(location.prefix.count)), size: Int64(contents.first("Size") ?? "0") ?? 0,
                    lastModified: contents.first("LastModified").flatMap(S3Client.parseTimestamp)))
            }
            token = page.first("IsTruncated") == "true" ? page.first("NextContinuationToken") : nil
        } while token != nil
        return out
    }

    /// An ISO 8601 time as S3 listings write it (`2026-12-05T20:18:35.000Z`, fractions optional).
    static func parseTimestamp(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let plain = Date.ISO8601FormatStyle()
        return (try? withFraction.parse(text)) ?? (try? plain.parse(text))
    }

    // MARK: Bucket

    /// Checks that the bucket exists and the credentials may use it: `notFound` naming the
    /// bucket, `forbidden` naming the credential check that failed, `unavailable` when the
    /// endpoint does not answer.
    public func checkBucket() throws(AFSError) {
        // One attempt: a server starting against a dead endpoint should say so at once.
        let reply = try send("HEAD", key: nil, accept: [404, 403, 301, 400], attempts: 1, what: "check the bucket")
        switch reply.status {
        case 200: return
        case 404: throw AFSError(.notFound, "bucket '\(location.bucket)' does not exist at \(location.endpoint); create it (aws s3 mb s3://\(location.bucket)) or fix --objects")
        case 403: throw AFSError(.forbidden, "\(location.endpoint) refused the credentials for bucket '\(location.bucket)'; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or [storage] access_key/secret_key)")
        default: throw AFSError(.unavailable, "\(location.endpoint) answered \(reply.status) for bucket '\(location.bucket)'; check the region (\(location.region)) and endpoint")
        }
    }

    /// Creates the bucket (succeeds when it exists and is ours).
    public func createBucket() throws(AFSError) {
        let reply = try send("PUT", key: nil, accept: [409], what: "create the bucket")
        if reply.status == 409 {
            let code = S3XML(reply.body).first("Code") ?? ""
            guard code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" else {
                throw AFSError(.conflict, "cannot create bucket '\(location.bucket)': \(code)")
            }
        }
    }

    // MARK: Requests

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    /// `host[:port]` as sent and signed.
    var hostHeader: String {
        let url = URL(string: location.endpoint)!
        let defaultPort = url.scheme == "https" ? 443 : 80
        return url.port.map { $0 == defaultPort ? url.host! : "\(url.host!):\($0)" } ?? url.host!
    }

    func path(for key: String?) -> String {
        "/\(location.bucket)" + (key.map { "/" + location.prefix + $0 } ?? "")
    }

    func send(
        _ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [], body: [UInt8] = [],
        accept: Set<Int> = [], attempts: Int? = nil, what: String
    ) throws(AFSError) -> Reply {
        let maxAttempts = attempts ?? self.maxAttempts
        let path = path(for: key)
        let payloadHash = body.isEmpty ? SigV4Signer.emptyPayloadHash : SigV4Signer.payloadHash(body)
        var attempt = 0
        while true {
            attempt += 1
            var all = headers
            all.append(("Host", hostHeader))
            let signature = signer.sign(method: method, path: path, query: query, headers: all, payloadHash: payloadHash, date: Date())
            var request = HTTPClientRequest(url: location.endpoint + SigV4Signer.encode(path, slash: false) + S3Client.queryString(query))
            request.method = HTTPMethod(rawValue: method)
            for (name, value) in all + signature.headers { request.headers.add(name: name, value: value) }
            if !body.isEmpty || method == "PUT" {
                // Sent in pieces of about 4 MiB, not copied whole: a 16 MiB pack costs no second 16 MiB.
                request.body = .bytes(body)
            }
            let outcome: Result<Reply, AFSError>
            do {
                let (client, timeout) = (self.client, self.timeout)
                let reply = try Blocking.run { [request] () async throws -> Reply in
                    let response = try await client.execute(request, timeout: timeout)
                    let collected = method == "HEAD" ? ByteBuffer() : try await response.body.collect(upTo: 1 << 30)
                    return Reply(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
                }
                outcome = .success(reply)
            } catch {
                outcome = .failure(AFSError(.unavailable, "cannot reach S3 at \(location.endpoint) to \(what) in bucket '\(location.bucket)': \(error); check that it runs and the endpoint"))
            }
            switch outcome {
            case .success(let reply) where (200..<300).contains(reply.status) || accept.contains(reply.status):
                return reply
            case .success(let reply) where (reply.status >= 500 || reply.status == 429) && attempt < maxAttempts:
                Thread.sleep(forTimeInterval: 0.1 * Double(1 << attempt))
            case .success(let reply):
                throw error(reply, key: key, what: what)
            case .failure where attempt < maxAttempts:
                Thread.sleep(forTimeInterval: 0.1 * Double(1 << attempt))
            case .failure(let e):
                throw e
            }
        }
    }

    /// An S3 error answer, as an error that says which check failed.
    func error(_ reply: Reply, key: String?, what: String) -> AFSError {
        let xml = S3XML(reply.body)
        let code = xml.first("Code") ?? "HTTP \(reply.status)"
        let message = xml.first("Message") ?? ""
        let object = "s3://\(location.bucket)/\(location.prefix)\(key ?? "")"
        switch code {
        case "NoSuchKey": return AFSError(.notFound, "\(object) does not exist")
        case "NoSuchBucket":
            return AFSError(.notFound, "bucket '\(location.bucket)' does not exist at \(location.endpoint); create it or fix --objects")
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken":
            return AFSError(.forbidden, "S3 at \(location.endpoint) refused to \(what) (\(code): \(message)); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or [storage] access_key/secret_key)")
        default:
            if reply.status == 404 { return AFSError(.notFound, "\(object) does not exist") }
            return AFSError(.unavailable, "S3 at \(location.endpoint) could not \(what) in bucket '\(location.bucket)': \(code) \(message) (HTTP \(reply.status))")
        }
    }

    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(SigV4Signer.encode($0.0, slash: true))=\(SigV4Signer.encode($0.1, slash: true))" }.joined(separator: "&")
    }
}

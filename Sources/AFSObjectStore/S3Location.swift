import AFSCore
import Foundation

/// Where a bucket is: `s3://BUCKET[/PREFIX]?endpoint=URL&region=R`, as `afs-server --objects` takes it.
///
/// Without `endpoint` the bucket is AWS's (`https://s3.REGION.amazonaws.com`); with one (SeaweedFS,
/// MinIO, Ceph RGW, R2, …) requests are path-style (`ENDPOINT/BUCKET/KEY`), which every
/// S3-compatible server accepts. A prefix keeps several stores in one bucket apart.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public var bucket: String
    /// Prepended to every key ("" or ends with "/").
    public var prefix: String
    /// `scheme://host[:port]`, no trailing slash.
    public var endpoint: String
    public var region: String

    public init(bucket: String, prefix: String = "", endpoint: String, region: String = "us-east-1") {
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.region = region
    }

    /// Parses `s3://BUCKET[/PREFIX]?endpoint=URL&region=R`; errors say what is wrong and what to write.
    public init(url: String) throws(AFSError) {
        let example = "write s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT&region=REGION"
        guard url.hasPrefix("s3://"), let components = URLComponents(string: url), let bucket = components.host, !bucket.isEmpty else {
            throw AFSError(.invalidArgument, "'\(url)' is not an S3 location; \(example)")
        }
        guard S3Location.isValidBucketName(bucket) else {
            throw AFSError(.invalidArgument, "'\(bucket)' is not a valid bucket name (3–63 lower-case letters, digits, '.' or '-'); \(example)")
        }
        var endpoint: String?
        var region = "us-east-1"
        for item in components.queryItems ?? [] {
            switch item.name {
            case "endpoint": endpoint = item.value
            case "region": region = item.value ?? region
            default: throw AFSError(.invalidArgument, "unknown parameter '\(item.name)' in '\(url)'; \(example)")
            }
        }
        if let e = endpoint {
            guard let u = URL(string: e), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil, u.path.isEmpty || u.path == "/" else {
                throw AFSError(.invalidArgument, "endpoint '\(e)' must be http(s)://HOST[:PORT] with no path; \(example)")
            }
        }
        let path = components.path.split(separator: "/").joined(separator: "/")
        self.init(bucket: bucket, prefix: path, endpoint: endpoint ?? "https://s3.\(region).amazonaws.com", region: region)
    }

    static func isValidBucketName(_ name: String) -> Bool {
        guard (3...63).contains(name.count), let first = name.first, let last = name.last, first.isLetter || first.isNumber,
            last.isLetter || last.isNumber
        else { return false }
        return name.allSatisfy { ($0.isLowercase && $0.isASCII) || ($0.isNumber && $0.isASCII) || $0 == "." || $0 == "-" }
    }

    public var description: String { "s3://\(bucket)/\(prefix)?endpoint=\(endpoint)&region=\(region)" }
}

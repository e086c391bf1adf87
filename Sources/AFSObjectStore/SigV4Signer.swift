import Crypto
import Foundation

/// AWS Signature Version 4 for S3 requests (header-based, single-chunk payloads).
///
/// No S3 SDK is available to this project, and signing is small and exactly specified: a
/// canonical request (method, URI, sorted query, sorted lower-case headers, payload hash), the
/// string to sign over its SHA-256, and an HMAC-SHA256 chain from the secret key through date,
/// region and service. The tests check it against AWS's published examples byte for byte.
///
/// S3 rules apply: the path is URI-encoded once and never normalised (keys may hold `//` or
/// `..`), which is how every S3 implementation, SeaweedFS included, recomputes the signature.
public struct SigV4Signer: Sendable {
    public struct Credentials: Sendable, Equatable {
        public var accessKeyID: String
        public var secretAccessKey: String
        /// For temporary credentials (`x-amz-security-token`).
        public var sessionToken: String?

        public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }
    }

    public var credentials: Credentials
    public var region: String
    public var service: String

    public init(credentials: Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The hex SHA-256 of an empty payload.
    public static let emptyPayloadHash = hex(SHA256.hash(data: [UInt8]()))

    public static func payloadHash<D: DataProtocol>(_ data: D) -> String { hex(SHA256.hash(data: data)) }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// What a signature covers and produces, kept for tests and error messages.
    public struct Signature: Sendable, Equatable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The headers to send with the request: `Authorization`, `x-amz-date`,
        /// `x-amz-content-sha256` and, with temporary credentials, `x-amz-security-token`.
        public var headers: [(String, String)]

        public static func == (a: Signature, b: Signature) -> Bool {
            a.canonicalRequest == b.canonicalRequest && a.stringToSign == b.stringToSign && a.signature == b.signature
                && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
        }
    }

    /// Signs a request.
    /// - Parameters:
    ///   - path: the request path as it goes on the wire, unencoded (`/bucket/key`); encoded here.
    ///   - query: query parameters, unencoded.
    ///   - headers: every header to send and sign (`host` must be among them).
    ///   - payloadHash: hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
    ///   - includeContentHashHeader: adds `x-amz-content-sha256` (S3 requires it).
    public func sign(
        method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String, date: Date,
        includeContentHashHeader: Bool = true
    ) -> Signature {
        let amzDate = SigV4Signer.timestamp(date)
        var all = headers
        all.append(("x-amz-date", amzDate))
        if includeContentHashHeader { all.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }

        // Lower-case names, values trimmed with inner runs of spaces collapsed, sorted by name;
        // repeated names join their values with commas.
        var byName: [String: [String]] = [:]
        for (name, value) in all {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            byName[name.lowercased(), default: []].append(collapsed)
        }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        var pairs: [(name: String, value: String)] = query.map { (SigV4Signer.encode($0.0, slash: true), SigV4Signer.encode($0.1, slash: true)) }
        pairs.sort { (a, b) -> Bool in a.name == b.name ? a.value < b.value : a.name < b.name }
        let canonicalQuery: String = pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let canonicalPath: String = SigV4Signer.encode(path.isEmpty ? "/" : path, slash: false)
        let canonicalRequest: String = [method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, SigV4Signer.payloadHash(Array(canonicalRequest.utf8))].joined(separator: "\n")

        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = SigV4Signer.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        var out: [(String, String)] = [("Authorization", authorization), ("x-amz-date", amzDate)]
        if includeContentHashHeader { out.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken { out.append(("x-amz-security-token", token)) }
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, headers: out)
    }

    /// RFC 3986 percent-encoding of every byte but the unreserved ones (and `/` in paths), with
    /// upper-case hex, as SigV4 specifies.
    public static func encode(_ s: String, slash: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where !slash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}

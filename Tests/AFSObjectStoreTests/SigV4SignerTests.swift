import AFSObjectStore
import Foundation
import Testing

/// The signer against AWS's published Signature Version 4 examples: the four S3 examples of
/// "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
/// (Amazon S3 API Reference) and cases of the general SigV4 test suite. A signature differing
/// in one bit fails.
@Suite struct SigV4SignerTests {
    /// 2013-05-24T00:00:00Z, the date of the S3 examples.
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)
    static let s3Signer = SigV4Signer(
        credentials: .init(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1")
    static let host = ("Host", "examplebucket.s3.amazonaws.com")

    @Test func s3GetObjectExample() {
        let s = Self.s3Signer.sign(
            method: "GET", path: "/test.txt", headers: [Self.host, ("Range", "bytes=0-9")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(s.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(s.stringToSign.hasSuffix("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(s.headers.first?.1 == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectExample() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = SigV4Signer.payloadHash(body)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let s = Self.s3Signer.sign(
            method: "PUT", path: "/test$file.text",
            headers: [Self.host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: hash, date: Self.s3Date)
        #expect(s.canonicalRequest.split(separator: "\n").dropFirst().first == "/test%24file.text")
        #expect(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3GetBucketLifecycleExample() {
        let s = Self.s3Signer.sign(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [Self.host], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(s.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func s3ListObjectsExample() {
        // Given out of order: the canonical query sorts them.
        let s = Self.s3Signer.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [Self.host], payloadHash: SigV4Signer.emptyPayloadHash,
            date: Self.s3Date)
        #expect(s.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "max-keys=2&prefix=J")
        #expect(s.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    /// The general test suite signs for service "service" on example.amazonaws.com at
    /// 2015-08-30T12:36:00Z, without an x-amz-content-sha256 header.
    static let suiteSigner = SigV4Signer(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)

    @Test func suiteGetVanilla() {
        let s = Self.suiteSigner.sign(
            method: "GET", path: "/", headers: [("Host", "example.amazonaws.com")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate,
            includeContentHashHeader: false)
        #expect(s.stringToSign == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        #expect(s.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func suitePostVanilla() {
        let s = Self.suiteSigner.sign(
            method: "POST", path: "/", headers: [("Host", "example.amazonaws.com")], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.suiteDate,
            includeContentHashHeader: false)
        #expect(s.signature == "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
    }

    @Test func encodingFollowsRFC3986() {
        #expect(SigV4Signer.encode("a b/c~d*e", slash: false) == "a%20b/c~d%2Ae")
        #expect(SigV4Signer.encode("a b/c", slash: true) == "a%20b%2Fc")
        #expect(SigV4Signer.encode("é", slash: true) == "%C3%A9")
    }

    @Test func temporaryCredentialsSignTheirToken() {
        var signer = Self.s3Signer
        signer.credentials.sessionToken = "token/1"
        let s = signer.sign(method: "GET", path: "/k", headers: [Self.host], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date)
        #expect(s.canonicalRequest.contains("x-amz-security-token:token/1\n"))
        #expect(s.headers.contains { $0.0 == "x-amz-security-token" && $0.1 == "token/1" })
        #expect(s.signature != Self.s3Signer.sign(method: "GET", path: "/k", headers: [Self.host], payloadHash: SigV4Signer.emptyPayloadHash, date: Self.s3Date).signature)
    }
}

import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate authority made in the test, and server certificates it signs, written
/// as PEM files: the TLS tests run against real certificates without any fixed key in the tree.
public final class TestPKI: Sendable {
    /// The directory holding the PEM files.
    public let directory: String
    /// `ca.pem`: the CA certificate, what clients trust.
    public let caPath: String
    let caKey: P256.Signing.PrivateKey
    let caName: DistinguishedName

    /// A server certificate and key, as files.
    public struct Pair: Sendable {
        public let certificatePath: String
        public let keyPath: String
        public let serial: String
    }

    /// The CA of this test process: servers started with TLS (``ServerBackend/tls``) carry
    /// certificates it signed, and the test clients trust it (``HTTPTestClient``, `AETHER_CA_CERT`).
    public static let shared: TestPKI = {
        do {
            return try TestPKI(directory: "/var/tmp/afs-test-pki-\(getpid())")
        } catch {
            fatalError("cannot make the tests' CA: \(error)")
        }
    }()

    /// Makes a CA (`name` is its common name) in `directory`, created when missing.
    public init(directory: String, name: String = "AetherFS test CA") throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        caKey = P256.Signing.PrivateKey()
        caName = try DistinguishedName { CommonName(name) }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(30 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        caPath = directory + "/ca.pem"
        try ca.serializeAsPEM().pemString.write(toFile: caPath, atomically: true, encoding: .utf8)
    }

    /// Issues a server certificate for `hosts` (DNS names and IP addresses), valid from
    /// `notBefore` to `notAfter`, and writes it and its key as `NAME.pem` and `NAME.key`.
    @discardableResult
    public func issue(
        _ name: String, hosts: [String] = ["localhost", "127.0.0.1"], notBefore: Date = Date().addingTimeInterval(-3600),
        notAfter: Date = Date().addingTimeInterval(30 * 86400)
    ) throws -> Pair {
        let key = P256.Signing.PrivateKey()
        let serial = Certificate.SerialNumber()
        let names: [GeneralName] = hosts.map { host in
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 {
                return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(withUnsafeBytes(of: &v4) { Array($0) })))
            }
            return .dnsName(host)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: serial, publicKey: .init(key.publicKey), notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: caName, subject: try DistinguishedName { CommonName(hosts.first ?? name) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        let pair = Pair(certificatePath: directory + "/\(name).pem", keyPath: directory + "/\(name).key", serial: serial.description)
        try certificate.serializeAsPEM().pemString.write(toFile: pair.certificatePath, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: pair.keyPath, atomically: true, encoding: .utf8)
        return pair
    }
}

import Foundation
import NIOSSL
import X509

/// What a person checks about a certificate: who it names, who signed it, when it is valid, and
/// for which hosts. Read with swift-certificates from the DER bytes NIOSSL holds.
public struct CertificateSummary: Sendable, Equatable, Codable {
    public var subject: String
    public var issuer: String
    public var serialNumber: String
    public var notValidBefore: Date
    public var notValidAfter: Date
    /// DNS names of the subject alternative name extension.
    public var dnsNames: [String]
    /// IP addresses of the subject alternative name extension, as text.
    public var ipAddresses: [String]

    enum CodingKeys: String, CodingKey {
        case subject, issuer
        case serialNumber = "serial_number"
        case notValidBefore = "not_valid_before"
        case notValidAfter = "not_valid_after"
        case dnsNames = "dns_names"
        case ipAddresses = "ip_addresses"
    }

    public init(_ certificate: NIOSSLCertificate) throws(TLSError) {
        let parsed: Certificate
        do {
            parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        } catch {
            throw TLSError(.files, "cannot read the certificate: \(error)")
        }
        self.init(parsed)
    }

    public init(_ certificate: Certificate) {
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        serialNumber = certificate.serialNumber.description
        notValidBefore = certificate.notValidBefore
        notValidAfter = certificate.notValidAfter
        var dns: [String] = []
        var ips: [String] = []
        if let names = try? certificate.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let n): dns.append(n)
                case .ipAddress(let bytes): ips.append(CertificateSummary.ipText(Array(bytes.bytes)))
                default: break
                }
            }
        }
        dnsNames = dns
        ipAddresses = ips
    }

    /// Whether the certificate names `host` (a DNS name, with one leading `*.` wildcard label
    /// allowed, or an IP address), as RFC 6125 checks it. Without any subject alternative name no
    /// host matches: clients stopped reading the common name long ago.
    public func matches(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if let bytes = CertificateSummary.ipBytes(h) { return ipAddresses.contains(CertificateSummary.ipText(bytes)) }
        for name in dnsNames.map({ $0.lowercased() }) {
            if name == h { return true }
            if name.hasPrefix("*."), let dot = h.firstIndex(of: "."), h[h.index(after: dot)...] == name.dropFirst(2), dot != h.startIndex {
                return true
            }
        }
        return false
    }

    /// The hosts the certificate is for, for messages.
    public var names: String {
        let all = dnsNames + ipAddresses
        return all.isEmpty ? "no host names" : all.joined(separator: ", ")
    }

    static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func ipText(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard bytes.count == 4 || bytes.count == 16 else { return bytes.map { String($0) }.joined(separator: ".") }
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }
}

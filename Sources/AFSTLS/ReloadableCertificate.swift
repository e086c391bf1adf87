import AFSSupport
import Foundation
import NIOCertificateReloading
import NIOSSL
import Synchronization

/// A server's certificate chain and private key, read from two PEM files and read again on
/// request (``reload()``, which afs-server and afs-vmd call on SIGHUP).
///
/// Every TLS handshake asks it for the pair it holds at that moment (NIOSSL's context callback,
/// through the `CertificateReloader` protocol that gRPC's transport takes too), so a rotation
/// reaches new connections at once and leaves connections already open untouched. A reload that
/// finds a broken pair — a file half-written, a key that does not belong to the certificate —
/// keeps the previous pair and throws: a bad deploy never takes the service off the air.
public final class ReloadableCertificate: CertificateReloader, Sendable {
    public let certificatePath: String
    public let keyPath: String

    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var summary: CertificateSummary
    }

    private let current: Locked<Pair>

    /// Reads the pair; throws when either file is missing or malformed, or the key does not match.
    public init(certificatePath: String, keyPath: String) throws(TLSError) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        current = Locked(try ReloadableCertificate.load(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// The pair a service was configured with, or nil for plaintext: both paths or neither.
    ///
    /// - Parameters:
    ///   - certificatePath: the certificate chain's file, from a flag, the environment or a file.
    ///   - keyPath: the key's file.
    ///   - certificateSetting: how the certificate is set, named in the error when only the key is
    ///     (e.g. "--tls-cert (AFS_TLS_CERT)").
    ///   - keySetting: how the key is set.
    /// - Throws: ``TLSError/Check/files`` when only one is given or the pair does not load.
    public static func configured(certificatePath: String?, keyPath: String?, certificateSetting: String, keySetting: String) throws(TLSError) -> ReloadableCertificate? {
        switch (certificatePath.flatMap { $0.isEmpty ? nil : $0 }, keyPath.flatMap { $0.isEmpty ? nil : $0 }) {
        case (nil, nil): return nil
        case (.some(let certificate), .some(let key)): return try ReloadableCertificate(certificatePath: certificate, keyPath: key)
        case (.some, nil): throw TLSError(.files, "\(certificateSetting) needs \(keySetting): the certificate's private key")
        case (nil, .some): throw TLSError(.files, "\(keySetting) needs \(certificateSetting): the certificate chain")
        }
    }

    /// The leaf certificate now served.
    public var summary: CertificateSummary { current.withLock { $0.summary } }

    /// Reads both files again and serves the new pair to every later handshake; on failure keeps
    /// serving the pair it had.
    @discardableResult
    public func reload() throws(TLSError) -> CertificateSummary {
        let pair = try ReloadableCertificate.load(certificatePath: certificatePath, keyPath: keyPath)
        current.withLock { $0 = pair }
        return pair.summary
    }

    public var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        let pair = current.withLock { $0 }
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = pair.chain.map { .certificate($0) }
        override.privateKey = .privateKey(pair.key)
        return override
    }

    /// A server configuration: TLS 1.2 and later only, the given ALPN protocols, and this pair
    /// looked up on every handshake.
    public func serverConfiguration(applicationProtocols: [String] = []) -> TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = applicationProtocols
        configuration.setCertificateReloader(self)
        return configuration
    }

    static func load(certificatePath: String, keyPath: String) throws(TLSError) -> Pair {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSError(.files, "TLS certificate \(certificatePath): \(ReloadableCertificate.reason(error, path: certificatePath)); give a PEM file holding the server's certificate (then its intermediates)")
        }
        guard let leaf = chain.first else {
            throw TLSError(.files, "TLS certificate \(certificatePath): no PEM certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSError(.files, "TLS key \(keyPath): \(ReloadableCertificate.reason(error, path: keyPath)); give the certificate's private key as an unencrypted PEM file")
        }
        // BoringSSL checks that the key belongs to the certificate when a context takes both.
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw TLSError(.keyMismatch, "TLS key \(keyPath) does not belong to the certificate in \(certificatePath) (\(error))")
        }
        return Pair(chain: chain, key: key, summary: try CertificateSummary(leaf))
    }

    private static func reason(_ error: any Error, path: String) -> String {
        if !FileManager.default.fileExists(atPath: path) { return "no such file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "not readable by this user" }
        return "not valid PEM (\(error))"
    }
}

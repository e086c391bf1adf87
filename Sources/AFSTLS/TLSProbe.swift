import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Reads the certificate a server presents, without trusting it, and says which check it fails.
///
/// Used after a refused handshake, so the error names the reason (expired, another host's
/// certificate, an unknown CA) instead of BoringSSL's "certificate verify failed", and by
/// `aether doctor` to report the subject, issuer and expiry.
public enum TLSProbe {
    /// Handshakes with `host:port` without verifying anything and returns the leaf certificate.
    public static func serverCertificate(host: String, port: Int, timeout: TimeAmount = .seconds(5)) async throws(TLSError) -> CertificateSummary {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        let outcome = try await handshake(host: host, port: port, configuration: configuration, timeout: timeout)
        guard let leaf = outcome.certificate else { throw TLSError(.handshake, "\(host):\(port) presented no certificate") }
        return leaf
    }

    /// What one handshake agreed: the application protocol chosen by ALPN and the server's leaf.
    public struct Handshake: Sendable {
        public var applicationProtocol: String?
        public var certificate: CertificateSummary?
    }

    /// One TLS handshake with `host:port` under `configuration` (verification, versions and ALPN
    /// as it says); the connection is closed afterwards.
    public static func handshake(host: String, port: Int, configuration: TLSConfiguration, timeout: TimeAmount = .seconds(5)) async throws(TLSError) -> Handshake {
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: configuration) } catch { throw TLSError(.handshake, "cannot set up TLS: \(error)") }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let sni = CertificateSummary.ipBytes(bare) == nil ? bare : nil
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let waiter = HandshakeWaiter(promise: channel.eventLoop.makePromise())
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: sni))
                        try channel.pipeline.syncOperations.addHandler(waiter)
                    }
                }
                .connect(host: bare, port: port).get()
            defer { channel.close(promise: nil) }
            let waiter = try await channel.pipeline.handler(type: HandshakeWaiter.self).get()
            let negotiated = try await waiter.promise.futureResult.get()
            let leaf = try await channel.nioSSL_peerCertificate().get()
            return Handshake(applicationProtocol: negotiated, certificate: try leaf.map { leaf throws(TLSError) in try CertificateSummary(leaf) })
        } catch let error as TLSError {
            throw error
        } catch {
            throw TLSError(.handshake, "no TLS handshake with \(host):\(port): \(error)")
        }
    }

    /// The check `certificate` fails for `host` at `now`, or nil when validity and host name are
    /// fine (a refusal is then the issuer's: not signed by a trusted CA).
    public static func failedCheck(_ certificate: CertificateSummary, host: String, now: Date = Date()) -> TLSError? {
        let stamp = ISO8601DateFormatter()
        if certificate.notValidAfter < now {
            return TLSError(.expired, "the server's TLS certificate (\(certificate.subject)) expired on \(stamp.string(from: certificate.notValidAfter)); renew it on the server")
        }
        if certificate.notValidBefore > now {
            return TLSError(.notYetValid, "the server's TLS certificate (\(certificate.subject)) is not valid until \(stamp.string(from: certificate.notValidBefore)); check both machines' clocks")
        }
        if !certificate.matches(host: host) {
            return TLSError(.hostnameMismatch, "the server's TLS certificate is for \(certificate.names), not \(host); connect by one of those names or reissue the certificate")
        }
        return nil
    }

    /// Why a handshake with `host:port` was refused, with what to do next.
    ///
    /// - Parameter error: the refusal as NIOSSL reported it.
    public static func explain(_ error: any Error, host: String, port: Int, trust: TLSTrust) async -> TLSError {
        let text = "\(error)"
        let isVerification = text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("failedToValidateHostname") || text.contains("certificate verify")
        guard isVerification else {
            return TLSError(.handshake, "TLS handshake with \(host):\(port) failed (\(text)); check that the endpoint serves TLS (https://) and speaks TLS 1.2 or later")
        }
        guard let certificate = try? await serverCertificate(host: host, port: port) else {
            return TLSError(.untrustedIssuer, "the server at \(host):\(port) presented a TLS certificate that \(trust.source) does not verify (\(text))")
        }
        if let failed = failedCheck(certificate, host: host) { return failed }
        return TLSError(
            .untrustedIssuer,
            "the server's TLS certificate (\(certificate.subject), issued by \(certificate.issuer)) is not signed by \(trust.source); pass its CA with --ca-cert FILE or [bridge] ca_cert in config.toml")
    }
}

/// Completes its promise with the ALPN protocol when the TLS handshake completes, or fails it
/// with the handshake's error.
final class HandshakeWaiter: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: touched only on its channel's event loop; the promise is itself Sendable.
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<String?>

    init(promise: EventLoopPromise<String?>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event { promise.succeed(negotiated) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}

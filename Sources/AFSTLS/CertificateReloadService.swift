import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads certificate pairs on SIGHUP, the signal operators and tools such as certbot's deploy
/// hooks send after renewing a certificate. Runs in the server's service group and ends with it.
public struct CertificateReloadService: Service {
    let certificates: [ReloadableCertificate]
    let logger: Logger

    public init(certificates: [ReloadableCertificate], logger: Logger) {
        self.certificates = certificates
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            for certificate in certificates {
                do {
                    let summary = try certificate.reload()
                    logger.info(
                        "reloaded the TLS certificate",
                        metadata: [
                            "file": "\(certificate.certificatePath)", "subject": "\(summary.subject)",
                            "expires": "\(ISO8601DateFormatter().string(from: summary.notValidAfter))",
                        ])
                } catch {
                    logger.error("kept the previous TLS certificate: \(error.message)")
                }
            }
        }
    }
}

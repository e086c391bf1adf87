import AFSSupport
import AFSClient
import AFSCore
import AFSGRPC
import AFSTLS
import AFSTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOSSL
import Synchronization
import Testing

/// afs-server over TLS: the protocol floor and ALPN, HSTS, bad certificate files, the plaintext
/// warning, a rotation under load, and a client nobody here wrote (Python's grpcio).
@Suite(.offCooperativePool) struct TLSTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func onlyTLS12AndLaterAndH2ByALPNOnTheGRPCPort() async throws {
        let server = try ServerHarness(backend: .tls)
        defer { server.cleanup() }
        let httpPort = try #require(Int(server.base.split(separator: ":").last ?? ""))
        // TLS 1.1 and older are refused on both ports; 1.2 and 1.3 are served.
        for port in [httpPort, server.grpcPort] {
            await #expect(throws: (any Error).self) {
                _ = try await TLSHandshake.negotiate(port: port) { $0.minimumTLSVersion = .tlsv1; $0.maximumTLSVersion = .tlsv11 }
            }
            _ = try await TLSHandshake.negotiate(port: port) { $0.minimumTLSVersion = .tlsv12; $0.maximumTLSVersion = .tlsv12 }
            _ = try await TLSHandshake.negotiate(port: port) { $0.minimumTLSVersion = .tlsv13 }
        }
        // gRPC offers HTTP/2 by ALPN.
        #expect(try await TLSHandshake.negotiate(port: server.grpcPort) { $0.applicationProtocols = ["h2"] } == "h2")
        // HSTS on every answer over TLS, errors included.
        let health = try server.request("GET", "/v1/health", token: "")
        #expect(health.status == 200)
        #expect(health.headers.lowercased().contains("strict-transport-security: max-age=31536000"))
        #expect(try server.request("GET", "/v1/sessions", token: "wrong").headers.lowercased().contains("strict-transport-security"))
    }

    @Test func plaintextAnswersCarryNoHSTSUnlessATrustedProxySaysHTTPS() throws {
        let plain = try ServerHarness()
        defer { plain.cleanup() }
        #expect(!(try plain.request("GET", "/v1/health", token: "").headers.lowercased().contains("strict-transport-security")))
        // An untrusted peer cannot claim https.
        #expect(!(try plain.request("GET", "/v1/health", token: "", headers: ["X-Forwarded-Proto": "https"]).headers.lowercased().contains("strict-transport-security")))
        let proxied = try ServerHarness(arguments: ["--trust-forwarded"])
        defer { proxied.cleanup() }
        #expect(try proxied.request("GET", "/v1/health", token: "", headers: ["X-Forwarded-Proto": "https"]).headers.lowercased().contains("strict-transport-security"))
        #expect(!(try proxied.request("GET", "/v1/health", token: "", headers: ["X-Forwarded-Proto": "http"]).headers.lowercased().contains("strict-transport-security")))
    }

    /// Starts afs-server with `arguments`, waits until it prints a banner or exits, and stops it.
    static func startAndStop(_ arguments: [String], seconds: Double = 60) throws -> (status: Int32?, stdout: String, stderr: String) {
        let data = "/var/tmp/afs-tls-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ServerProcess.productsDirectory() + "/afs-server")
        p.arguments = ["--data", data] + arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let collected = Locked((Data(), Data()))
        out.fileHandleForReading.readabilityHandler = { h in let d = h.availableData; collected.withLock { $0.0.append(d) } }
        err.fileHandleForReading.readabilityHandler = { h in let d = h.availableData; collected.withLock { $0.1.append(d) } }
        try p.run()
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < deadline, !collected.withLock({ String(decoding: $0.0, as: UTF8.self).contains("try: ") }) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let exited = !p.isRunning
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        // What the handlers had not picked up yet when the process ended.
        let restOut = out.fileHandleForReading.readDataToEndOfFile()
        let restErr = err.fileHandleForReading.readDataToEndOfFile()
        collected.withLock { $0.0.append(restOut); $0.1.append(restErr) }
        let (o, e) = collected.withLock { $0 }
        return (exited ? p.terminationStatus : nil, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func badCertificateFilesAndPlaintextOffLoopbackAreCalledOut() throws {
        let pki = try TestPKI(directory: "/var/tmp/afs-tls-pki-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(atPath: pki.directory) }
        let good = try pki.issue("good")
        let other = try pki.issue("other")
        let loopback = ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]
        // A key that is not the certificate's, a missing key file, one of the pair alone.
        let mismatch = try Self.startAndStop(loopback + ["--tls-cert", good.certificatePath, "--tls-key", other.keyPath])
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.contains("does not belong to the certificate"))
        let missing = try Self.startAndStop(loopback + ["--tls-cert", good.certificatePath, "--tls-key", pki.directory + "/nope.key"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope.key: no such file"))
        let half = try Self.startAndStop(loopback + ["--tls-cert", good.certificatePath])
        #expect(half.status == 1)
        #expect(half.stderr.contains("--tls-cert (AFS_TLS_CERT, [server] tls_cert) needs --tls-key"))
        // Plaintext on every interface: served, with a warning that names the risk; none over TLS
        // or on loopback.
        let open = try Self.startAndStop(["--http", "0.0.0.0:0", "--grpc", "127.0.0.1:0"])
        #expect(open.status == nil, "it serves: \(open.stderr)")
        #expect(open.stderr.contains("warning: afs-server serves HTTP in plaintext on 0.0.0.0"))
        #expect(open.stderr.contains("bearer tokens"))
        #expect(!open.stderr.contains("serves gRPC in plaintext"))
        let secured = try Self.startAndStop(["--http", "0.0.0.0:0", "--grpc", "0.0.0.0:0", "--tls-cert", good.certificatePath, "--tls-key", good.keyPath])
        #expect(secured.status == nil)
        #expect(!secured.stderr.contains("plaintext"))
        #expect(secured.stdout.contains("listening on https://0.0.0.0:"))
        let quiet = try Self.startAndStop(loopback)
        #expect(!quiet.stderr.contains("plaintext"))
        // The same settings from the environment and from the config file.
        let configFile = pki.directory + "/server.toml"
        try "[server]\ntls_cert = \"\(good.certificatePath)\"\ntls_key = \"\(good.keyPath)\"\n".write(toFile: configFile, atomically: true, encoding: .utf8)
        #expect(try Self.startAndStop(loopback + ["--config", configFile]).stdout.contains("listening on https://"))
        let p = try ChildProcess.run(
            "/usr/bin/env", ["AFS_TLS_CERT=\(good.certificatePath)", "AFS_TLS_KEY=\(other.keyPath)", ServerProcess.productsDirectory() + "/afs-server", "--data", pki.directory + "/env-data"] + loopback)
        #expect(p.status == 1 && String(decoding: p.stderr, as: UTF8.self).contains("does not belong"))
    }

    /// SIGHUP while clients keep connections busy and a changefeed streams: every request
    /// succeeds, the stream goes on, and new handshakes get the new certificate on both ports.
    @Test func certificateRotationUnderLoadLosesNoRequest() throws {
        let server = try ServerHarness(backend: .tls)
        defer { server.cleanup() }
        let pair = try #require(server.server.certificate)
        let ca = try #require(server.caCertificate)
        let httpPort = try #require(Int(server.base.split(separator: ":").last ?? ""))
        let before = try Blocking.run { try await TLSProbe.serverCertificate(host: "127.0.0.1", port: httpPort) }
        let id = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)

        let stop = Atomic<Bool>(false)
        let failures = Locked<[String]>([])
        let written = Atomic<Int>(0)
        // Writers on pooled keep-alive connections (opened before the rotation).
        var threads: [Thread] = []
        for w in 0..<3 {
            let t = Thread {
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    do {
                        let r = try server.request("PUT", "/v1/sessions/\(id)/files/w\(w)/\(i)", body: Data("\(w)-\(i)".utf8))
                        if r.status != 201 { failures.withLock { $0.append("PUT \(w)/\(i): \(r.status)") } } else { written.add(1, ordering: .relaxed) }
                    } catch {
                        failures.withLock { $0.append("PUT \(w)/\(i): \(error)") }
                    }
                    i += 1
                }
            }
            threads.append(t)
        }
        // A client that connects anew for every request (a fresh client each time).
        let fresh = Thread {
            while !stop.load(ordering: .relaxed) {
                do {
                    let remote = try RemoteStore(endpoint: server.base, token: server.adminToken, trust: TLSTrust(caCertificatePath: ca))
                    let _: ServerHealth = try remote.health()
                } catch {
                    failures.withLock { $0.append("fresh client: \(error)") }
                }
            }
        }
        threads.append(fresh)
        threads.forEach { $0.start() }
        // A changefeed stream open across the rotation.
        let streamed = Locked(Data())
        let reader = Thread {
            let data = (try? HTTPTestClient.collect(
                server.base + "/v1/sessions/\(id)/changes", headers: [("Authorization", "Bearer \(server.adminToken)"), ("Accept", "text/event-stream")],
                for: 4.0)) ?? Data()
            streamed.withLock { $0 = data }
        }
        // A gRPC changefeed subscription over TLS open across the rotation.
        let grpcEvents = Atomic<Int>(0)
        let grpcFailure = Locked<String?>(nil)
        let token = server.adminToken
        let grpcPort = server.grpcPort
        let grpcReader = Thread {
            do {
                try Blocking.run {
                    try await withGRPCClient(
                        transport: .http2NIOPosix(
                            target: .ipv4(address: "127.0.0.1", port: grpcPort),
                            transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) })
                    ) { client in
                        let coordination = Aether_V1_Coordination.Client(wrapping: client)
                        var subscribe = Aether_V1_SubscribeChangesRequest()
                        subscribe.session = id
                        let request = subscribe
                        // Ends at the first event after the writers stop (the test writes one more),
                        // or at the deadline.
                        var options = CallOptions.defaults
                        options.timeout = .seconds(120)
                        try await coordination.subscribeChanges(request, metadata: ["authorization": "Bearer \(token)"], options: options) { response in
                            for try await _ in response.messages {
                                grpcEvents.add(1, ordering: .relaxed)
                                if stop.load(ordering: .relaxed) { break }
                            }
                        }
                    }
                }
            } catch is CancellationError {
            } catch let error as RPCError where error.code == .deadlineExceeded {
            } catch {
                grpcFailure.withLock { $0 = "\(error)" }
            }
        }
        grpcReader.start()
        // Rotate once every client is under way (on a loaded machine that takes a while).
        let ready = Date().addingTimeInterval(60)
        while (grpcEvents.load(ordering: .relaxed) == 0 || written.load(ordering: .relaxed) == 0), Date() < ready { Thread.sleep(forTimeInterval: 0.05) }
        reader.start()
        Thread.sleep(forTimeInterval: 1.0)
        // Rotate: a new certificate (new serial, same CA) written over the old files, then SIGHUP.
        let renewed = try TestPKI.shared.issue("renewed-\(UUID().uuidString.prefix(8))")
        try FileManager.default.removeItem(atPath: pair.certificatePath)
        try FileManager.default.copyItem(atPath: renewed.certificatePath, toPath: pair.certificatePath)
        try FileManager.default.removeItem(atPath: pair.keyPath)
        try FileManager.default.copyItem(atPath: renewed.keyPath, toPath: pair.keyPath)
        let writtenAtRotation = written.load(ordering: .relaxed)
        let grpcAtRotation = grpcEvents.load(ordering: .relaxed)
        kill(server.pid, SIGHUP)
        // Until the server says it reloaded and writes went on (no fixed wait: a loaded machine
        // takes longer, an idle one less).
        func log() -> String { (try? String(contentsOfFile: server.data + "/stderr.log", encoding: .utf8)) ?? "" }
        let reloaded = Date().addingTimeInterval(30)
        while Date() < reloaded, !log().contains("reloaded the TLS certificate") || written.load(ordering: .relaxed) <= writtenAtRotation + 2 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(written.load(ordering: .relaxed) > writtenAtRotation, "writes went on after the rotation")
        stop.store(true, ordering: .relaxed)
        while threads.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.05) }
        // One more event ends the gRPC subscription.
        #expect(try server.request("PUT", "/v1/sessions/\(id)/files/last", body: Data("last".utf8)).status == 201)
        while !reader.isFinished || !grpcReader.isFinished { Thread.sleep(forTimeInterval: 0.05) }
        #expect(grpcFailure.withLock { $0 } == nil, "\(grpcFailure.withLock { $0 } ?? "")")
        #expect(grpcAtRotation > 0 && grpcEvents.load(ordering: .relaxed) > grpcAtRotation, "the gRPC stream went on after the rotation")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
        #expect(server.process.isRunning)
        // The stream saw events from after the rotation: it was not cut.
        let events = String(decoding: streamed.withLock { $0 }, as: UTF8.self).components(separatedBy: "\n").filter { $0.hasPrefix("id:") }.count
        #expect(events > writtenAtRotation, "the stream carried \(events) events; \(writtenAtRotation) writes had happened at the rotation")
        // New handshakes on both ports present the renewed certificate.
        let after = try Blocking.run { try await TLSProbe.serverCertificate(host: "127.0.0.1", port: httpPort) }
        let afterGRPC = try Blocking.run { try await TLSProbe.serverCertificate(host: "127.0.0.1", port: server.grpcPort) }
        #expect(before.serialNumber != after.serialNumber)
        #expect(after.serialNumber == renewed.serial)
        #expect(afterGRPC.serialNumber == renewed.serial)
        // A broken pair on SIGHUP is refused; the server keeps serving the renewed one.
        try "not a certificate".write(toFile: pair.certificatePath, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        let refused = Date().addingTimeInterval(30)
        while Date() < refused, !log().contains("kept the previous TLS certificate") { Thread.sleep(forTimeInterval: 0.02) }
        #expect(try server.request("GET", "/v1/health", token: "").status == 200)
        #expect(try Blocking.run { try await TLSProbe.serverCertificate(host: "127.0.0.1", port: httpPort) }.serialNumber == renewed.serial)
        #expect(log().contains("reloaded the TLS certificate"))
        #expect(log().contains("kept the previous TLS certificate"))
    }

    /// Python's grpcio, with stubs generated from Protos/ by grpcio-tools, drives a session over
    /// gRPC+TLS trusting the test CA, and is refused with another CA.
    @Test func pythonGRPCClientOverTLS() throws {
        let tools = Self.repositoryRoot + "/.tools/python"
        try #require(FileManager.default.fileExists(atPath: tools + "/grpc_tools"), "grpcio-tools missing from \(tools): run scripts/bootstrap.sh")
        let server = try ServerHarness(backend: .tls)
        defer { server.cleanup() }
        let ca = try #require(server.caCertificate)
        let out = server.data + "/pystubs"
        let script = Self.repositoryRoot + "/Tests/Python/grpc_tls_client.py"
        let env = ["PYTHONPATH": tools, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let ok = try ChildProcess.run(
            "/usr/bin/env", env.map { "\($0.key)=\($0.value)" } + ["python3", script, "lifecycle", "\(server.grpcPort)", ca, server.adminToken, Self.repositoryRoot + "/Protos", out])
        let okText = String(decoding: ok.stdout, as: UTF8.self)
        #expect(ok.status == 0, "\(okText) \(String(decoding: ok.stderr, as: UTF8.self))")
        let result = try #require(try JSONSerialization.jsonObject(with: ok.stdout) as? [String: Any])
        #expect(result["read"] as? String == "hello over tls")
        let forked = try #require(result["fork"] as? String)
        #expect(try server.request("GET", "/v1/sessions/\(forked)/files/hello.txt").text == "hello over tls")
        // Another CA: the handshake is refused.
        let other = try TestPKI(directory: server.data + "/other-ca")
        let refused = try ChildProcess.run(
            "/usr/bin/env", env.map { "\($0.key)=\($0.value)" } + ["python3", script, "refused", "\(server.grpcPort)", other.caPath, server.adminToken, Self.repositoryRoot + "/Protos", out])
        #expect(refused.status == 0, "\(String(decoding: refused.stdout, as: UTF8.self)) \(String(decoding: refused.stderr, as: UTF8.self))")
        #expect(String(decoding: refused.stdout, as: UTF8.self).contains("UNAVAILABLE"))
    }

    /// The README's nginx configuration in front of a plaintext server on loopback with
    /// --trust-forwarded: HTTPS with HSTS, a changefeed streamed unbuffered, the CLI's client, and
    /// gRPC over TLS passed through to the gRPC port.
    @Test func behindNginxTerminatingTLS() async throws {
        let server = try ServerHarness(arguments: ["--trust-forwarded"])
        defer { server.cleanup() }
        let httpPort = try #require(Int(server.base.split(separator: ":").last ?? ""))
        let proxy = try NginxProxy(
            httpPort: httpPort, grpcPort: server.grpcPort, pair: try TestPKI.shared.issue("nginx-\(UUID().uuidString.prefix(8))"),
            directory: server.data + "/nginx")
        defer { proxy.stop() }
        let auth = [("Authorization", "Bearer \(server.adminToken)")]
        let health = try HTTPTestClient.request("GET", proxy.base + "/v1/health")
        #expect(health.status == 200)
        #expect(health.header("Strict-Transport-Security") == "max-age=31536000")
        // The session lifecycle through the proxy, by the CLI's client.
        let remote = try RemoteStore(endpoint: proxy.base, token: server.adminToken, trust: TLSTrust(caCertificatePath: TestPKI.shared.caPath))
        let created = try HTTPTestClient.request(
            "POST", proxy.base + "/v1/sessions", headers: auth + [("Content-Type", "application/json")], body: .data(Data(#"{"source":{"kind":"blank"}}"#.utf8)))
        #expect(created.status == 201)
        let id = try #require((try JSONSerialization.jsonObject(with: created.body) as? [String: Any])?["id"] as? String)
        // A changefeed stream through the proxy sees writes as they happen.
        let streamed = Locked(Data())
        let reader = Thread {
            let data = (try? HTTPTestClient.collect(proxy.base + "/v1/sessions/\(id)/changes", headers: auth + [("Accept", "text/event-stream")], for: 6)) ?? Data()
            streamed.withLock { $0 = data }
        }
        reader.start()
        try await Task.sleep(for: .milliseconds(700))
        for i in 0..<5 {
            #expect(try HTTPTestClient.request("PUT", proxy.base + "/v1/sessions/\(id)/files/f\(i).txt", headers: auth, body: .data(Data("\(i)".utf8))).status == 201)
        }
        while !reader.isFinished { try await Task.sleep(for: .milliseconds(50)) }
        let text = String(decoding: streamed.withLock { $0 }, as: UTF8.self)
        #expect((0..<5).allSatisfy { text.contains("/f\($0).txt") }, "\(text)")
        #expect(try remote.sessions(status: nil).map(\.id).contains(id))
        // gRPC over TLS through nginx's grpc_pass.
        let ca = TestPKI.shared.caPath
        let count = try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: proxy.grpcPort),
                transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) })
        ) { client in
            let sessions = Aether_V1_Sessions.Client(wrapping: client)
            return try await sessions.list(Aether_V1_ListSessionsRequest(), metadata: ["authorization": "Bearer \(server.adminToken)"]).sessions.count
        }
        #expect(count == 1)
    }
}

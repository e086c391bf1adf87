import AFSSupport
import Foundation

/// Debian's nginx terminating TLS in front of a plaintext afs-server, configured as the README's
/// "Serving on a network" section says: HTTPS proxied to the HTTP port with `X-Forwarded-*`
/// headers and unbuffered streaming, gRPC over TLS passed to the gRPC port.
public final class NginxProxy: @unchecked Sendable {
    // @unchecked: immutable after init; the process is used by the owning test only.
    public static let executable = "/usr/sbin/nginx"
    public let directory: String
    /// `https://127.0.0.1:PORT`, proxied to the server's HTTP port.
    public let base: String
    /// The TLS port passed to the server's gRPC port.
    public let grpcPort: Int
    let process: Process

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A free loopback TCP port (bound, then released for the proxy to take).
    static func freePort() throws -> Int {
        guard let port = HostPort.freeLoopbackPort() else { throw StartError(description: "no free port: errno \(errno)") }
        return port
    }

    /// Starts nginx in front of `httpPort` and `grpcPort` on 127.0.0.1 with `pair` as its certificate.
    public init(httpPort: Int, grpcPort upstreamGRPC: Int, pair: TestPKI.Pair, directory: String) throws {
        guard FileManager.default.isExecutableFile(atPath: NginxProxy.executable) else {
            throw StartError(description: "nginx is not installed: run scripts/bootstrap.sh (Debian's nginx)")
        }
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        let port = try NginxProxy.freePort()
        grpcPort = try NginxProxy.freePort()
        base = "https://127.0.0.1:\(port)"
        let config = """
            daemon off;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(directory)/tmp/body;
                proxy_temp_path \(directory)/tmp/proxy;
                fastcgi_temp_path \(directory)/tmp/fastcgi;
                uwsgi_temp_path \(directory)/tmp/uwsgi;
                scgi_temp_path \(directory)/tmp/scgi;
                ssl_protocols TLSv1.2 TLSv1.3;
                ssl_certificate \(pair.certificatePath);
                ssl_certificate_key \(pair.keyPath);
                server {
                    listen 127.0.0.1:\(port) ssl;
                    client_max_body_size 0;
                    location / {
                        proxy_pass http://127.0.0.1:\(httpPort);
                        proxy_http_version 1.1;
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-Proto $scheme;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_buffering off;
                        proxy_request_buffering off;
                        proxy_read_timeout 1h;
                    }
                }
                server {
                    listen 127.0.0.1:\(grpcPort) ssl http2;
                    client_max_body_size 0;
                    location / {
                        grpc_pass grpc://127.0.0.1:\(upstreamGRPC);
                        grpc_read_timeout 1h;
                    }
                }
            }
            """
        try config.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: NginxProxy.executable)
        process.arguments = ["-p", directory, "-c", directory + "/nginx.conf", "-e", directory + "/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when both ports accept connections.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if NginxProxy.accepts(port) && NginxProxy.accepts(grpcPort) { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        let log = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
        throw StartError(description: "nginx did not start: \(log)")
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// SIGTERM (nginx's fast shutdown) to the master, which stops its worker. The master is kept
    /// (no `master_process off`): alone, nginx would keep the signal mask it inherited from the
    /// test process and never see the SIGTERM.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

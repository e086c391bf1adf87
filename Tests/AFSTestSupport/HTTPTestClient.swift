import AFSSupport
import AFSCore
import AFSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A real HTTP client for the end-to-end tests (AsyncHTTPClient), with bodies streamed from and to
/// files so a multi-GiB transfer never sits in the test's memory. Calls block the calling thread
/// (the tests are synchronous); the I/O runs on AsyncHTTPClient's own event loops.
public enum HTTPTestClient {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: Data

        /// The value of a header, case-insensitively.
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The headers as one `Name: value` line each, like a raw HTTP head.
        public var headerText: String { headers.map { "\($0.0): \($0.1)" }.joined(separator: "\r\n") + "\r\n" }
    }

    /// What to send.
    public enum Body: Sendable {
        case none
        case data(Data)
        /// Streamed from this file in 1 MiB pieces.
        case file(String)
    }

    /// Trusts the tests' CA (``TestPKI/shared``) for https:// servers started with TLS.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(TestPKI.shared.caPath)
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Sends one request. With `outputFile`, the answer's body is streamed into that file instead of
    /// being returned.
    public static func request(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: Body = .none, outputFile: String? = nil,
        timeout: Double = 120
    ) throws -> Reply {
        var request = HTTPClientRequest(url: url)
        var opened: Int32?
        defer { if let opened { close(opened) } }
        request.method = HTTPMethod(rawValue: method)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        switch body {
        case .none: break
        case .data(let d): request.body = .bytes(ByteBuffer(bytes: d))
        case .file(let path):
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path]) }
            opened = fd
            request.body = .stream(DescriptorChunks(fd: fd), length: .known(size))
        }
        let req = request
        return try Blocking.run {
            let response = try await client.execute(req, timeout: .milliseconds(Int64(timeout * 1000)))
            var data = Data()
            if let outputFile {
                FileManager.default.createFile(atPath: outputFile, contents: nil)
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputFile))
                for try await buffer in response.body { try handle.write(contentsOf: Data(buffer.readableBytesView)) }
                try handle.close()
            } else {
                for try await buffer in response.body { data.append(contentsOf: buffer.readableBytesView) }
            }
            return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: data)
        }
    }

    /// Reads a streaming answer (Server-Sent Events) for `seconds`, then hangs up; returns what arrived.
    public static func collect(_ url: String, headers: [(String, String)], for seconds: Double) throws -> Data {
        var request = HTTPClientRequest(url: url)
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        let req = request
        final class Received: Sendable { let data = Locked<Data>(Data()) }
        let received = Received()
        // The reader stops at the deadline: a timer cancels it, and what arrived until then is the answer.
        try Blocking.run {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let response = try await client.execute(req, timeout: .seconds(Int64(seconds) + 30))
                    for try await buffer in response.body {
                        received.data.withLock { $0.append(contentsOf: buffer.readableBytesView) }
                    }
                }
                group.addTask { try? await Task.sleep(for: .seconds(seconds)) }
                do { _ = try await group.next() } catch is CancellationError {}
                group.cancelAll()
                while let _ = try? await group.next() {}
            }
        }
        return received.data.withLock { $0 }
    }
}

// Figure 5: the HTTP server. `afs-server` on loopback, driven by the minimal HTTP/1.1 keep-alive client
// in this file: fork over HTTP against the in-process fork in the same run (p50 ≤ 0.8 ms on
// loopback); one client's reads, writes and deletes next to the same calls in process; and a bounded
// load test (C clients for D seconds each) of small reads, small durable writes and forks.
//
// The server is a child process (`afs-server --data WORK/http/server/data --http 127.0.0.1:0`) that is
// stopped with SIGTERM at the end of the figure. Client threads are plain `Thread`s, one connection each;
// their results are merged under a `Mutex` after they finish (no shared mutable globals).

import AFSSupport
import AFSCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

enum HTTPRuns {
    static let treeFiles = 1000
    /// Untimed requests before each timed series (first-use costs of the connection and the server).
    static let warmup = 3
    /// Sequential requests per operation on one connection (and calls per operation in process).
    static func sequential(_ quick: Bool) -> Int { quick ? 50 : 200 }
    static func clients(_ quick: Bool) -> Int { quick ? 4 : 8 }
    static func seconds(_ quick: Bool) -> Int { quick ? 3 : 10 }
    /// How long one response may take before the client gives up on it.
    static let replyTimeoutMillis: Int32 = 30_000
}

let httpBuildHint = "build it with swift build -c release --product afs-server"

/// `afs-server` next to the running afs-bench (both land in .build/<config>/).
func defaultServerPath() -> String {
    (selfExecutablePath() as NSString).deletingLastPathComponent + "/afs-server"
}

private func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

// MARK: - The server process

struct ServerEndpoint: Sendable {
    var host: String
    var port: UInt16
    var token: String
}

struct ServerProcess {
    var pid: pid_t
    var endpoint: ServerEndpoint
    var dataDir: String
    var stderrPath: String
    /// Spawn to banner, microseconds.
    var startMicros: Double
}

struct ServerStop {
    var micros: Double
    var status: Int32?
    var note: String?
}

/// Exit status from a waitpid status (128 + signal when killed by a signal).
private func tailOf(_ path: String, lines: Int = 3) -> String {
    guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no output)" }
    let ls = t.split(separator: "\n").suffix(lines).map { $0.trimmingCharacters(in: .whitespaces) }
    return ls.isEmpty ? "(no output)" : ls.joined(separator: " / ")
}

/// HOST and PORT from a complete banner line `afs-server listening on http://HOST:PORT`.
func parseServerBanner(_ text: String) -> (host: String, port: UInt16)? {
    guard let r = text.range(of: "listening on http://") else { return nil }
    let rest = text[r.upperBound...]
    let addr = rest.prefix { !$0.isWhitespace && $0 != "/" }
    // Only a whole line: a banner still being written could show a truncated port.
    guard rest.dropFirst(addr.count).first?.isNewline == true else { return nil }
    guard let colon = addr.lastIndex(of: ":"), let port = UInt16(addr[addr.index(after: colon)...]), port > 0 else { return nil }
    return (String(addr[..<colon]), port)
}

/// Starts `executable --data DIR/data --http 127.0.0.1:0` with stdout and stderr in files under `directory`,
/// waits for its banner (≤ 60 s) and reads the admin token.
func launchServer(_ executable: String, directory: String) -> Result<ServerProcess, BenchError> {
    let data = directory + "/data"
    let outPath = directory + "/server.stdout"
    let errPath = directory + "/server.stderr"
    do { try makeDirectory(directory) } catch { return .failure(BenchError("mkdir \(directory): \(error)")) }
    // The server's own AFS_* settings (AFS_CONFIG could change its limits) are left out; the
    // per-token rate limit is off, since the load test drives one token as hard as it can.
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AFS_") }
    env["AFS_RATE_LIMIT"] = "0"
    let clock = ContinuousClock()
    let t0 = clock.now
    let pid: pid_t
    switch spawnProcess(executable, ["--data", data, "--http", "127.0.0.1:0"], stdout: outPath, stderr: errPath, environment: env) {
    case .success(let p): pid = p
    case .failure(let e): return .failure(e)
    }
    let deadline = t0 + .seconds(60)
    var address: (host: String, port: UInt16)?
    while true {
        if let text = try? String(contentsOfFile: outPath, encoding: .utf8), let a = parseServerBanner(text) {
            address = a
            break
        }
        var w: Int32 = 0
        if waitpid(pid, &w, WNOHANG) == pid {
            return .failure(BenchError("afs-server exited (status \(exitCode(w))) before listening: \(tailOf(errPath))"))
        }
        if clock.now >= deadline {
            _ = kill(pid, SIGKILL)
            _ = waitpid(pid, &w, 0)
            return .failure(BenchError("afs-server printed no banner within 60 s: \(tailOf(errPath))"))
        }
        usleep(5_000)
    }
    let started = micros(clock.now - t0)
    let tokenPath = data + "/admin.token"
    var token = ""
    for _ in 0..<200 where token.isEmpty {
        token = ((try? String(contentsOfFile: tokenPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if token.isEmpty { usleep(10_000) }
    }
    let proc = ServerProcess(
        pid: pid, endpoint: ServerEndpoint(host: address?.host ?? "127.0.0.1", port: address?.port ?? 0, token: token),
        dataDir: data, stderrPath: errPath, startMicros: started)
    guard !token.isEmpty else {
        _ = stopServer(proc)
        return .failure(BenchError("no token in \(tokenPath) after the banner"))
    }
    return .success(proc)
}

/// SIGTERM, then waits up to 60 s for a graceful exit (SIGKILL after that).
func stopServer(_ s: ServerProcess) -> ServerStop {
    let clock = ContinuousClock()
    let t0 = clock.now
    var w: Int32 = 0
    guard kill(s.pid, SIGTERM) == 0 else {
        let why = errnoText()
        let r = waitpid(s.pid, &w, WNOHANG)
        return ServerStop(micros: 0, status: r == s.pid ? exitCode(w) : nil, note: "kill(SIGTERM) failed: \(why)")
    }
    let deadline = t0 + .seconds(60)
    while true {
        let r = waitpid(s.pid, &w, WNOHANG)
        if r == s.pid { return ServerStop(micros: micros(clock.now - t0), status: exitCode(w), note: nil) }
        if r < 0 && errno != EINTR {
            return ServerStop(micros: micros(clock.now - t0), status: nil, note: "waitpid: \(errnoText())")
        }
        if clock.now >= deadline {
            _ = kill(s.pid, SIGKILL)
            _ = waitpid(s.pid, &w, 0)
            return ServerStop(micros: micros(clock.now - t0), status: exitCode(w),
                              note: "did not exit within 60 s of SIGTERM; killed with SIGKILL")
        }
        usleep(2_000)
    }
}

// MARK: - A minimal HTTP/1.1 client

struct HTTPReply {
    var status: Int
    /// Lower-cased names.
    var headers: [String: String]
    var body: [UInt8]

    /// The start of the body on one line, for error messages.
    var snippet: String {
        String(decoding: body.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
    }

    /// `id` of a JSON object body.
    var jsonID: String? {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { return nil }
        return obj["id"] as? String
    }
}

/// One keep-alive connection over a plain TCP socket: Content-Length and chunked bodies, reconnects
/// after `Connection: close` or an error. Not thread-safe: one per thread.
final class HTTPClient {
    let endpoint: ServerEndpoint
    private var fd: Int32 = -1
    /// Received bytes not yet consumed.
    private var inbuf: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 65536)
    /// Connections opened so far (1 when keep-alive held throughout).
    private(set) var connects = 0

    init(_ endpoint: ServerEndpoint) { self.endpoint = endpoint }
    deinit { disconnect() }

    func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
        inbuf.removeAll(keepingCapacity: true)
    }

    /// Opens the connection (closing any previous one).
    func establish() throws {
        disconnect()
        guard let ip = ipv4(endpoint.host) else { throw BenchError("\(endpoint.host): not an IPv4 address") }
        #if canImport(Glibc)
        let stream = Int32(SOCK_STREAM.rawValue)
        #else
        let stream = SOCK_STREAM
        #endif
        let s = socket(AF_INET, stream, 0)
        guard s >= 0 else { throw BenchError("socket: \(errnoText())") }
        var one: Int32 = 1
        _ = setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(endpoint.port).bigEndian
        addr.sin_addr.s_addr = ip
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let why = errnoText()
            close(s)
            throw BenchError("connect \(endpoint.host):\(endpoint.port): \(why)")
        }
        fd = s
        connects += 1
    }

    /// Dotted quad to s_addr (network byte order).
    private func ipv4(_ host: String) -> UInt32? {
        let name = host == "localhost" ? "127.0.0.1" : host
        let parts = name.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 < 256 }) else { return nil }
        return (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]).bigEndian
    }

    /// Sends one request and reads its whole response. On any I/O error the connection is dropped
    /// (the next request opens a new one) and the error is thrown.
    func request(_ method: String, _ target: String, body: [UInt8] = [], contentType: String? = nil) throws -> HTTPReply {
        if fd < 0 { try establish() }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(endpoint.host):\(endpoint.port)\r\n"
        head += "Authorization: Bearer \(endpoint.token)\r\n"
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" { head += "Content-Length: \(body.count)\r\n" }
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        head += "\r\n"
        var out = Array(head.utf8)
        out.append(contentsOf: body)
        do {
            try transmit(out)
            return try readReply(method: method)
        } catch {
            disconnect()
            throw error
        }
    }

    private func transmit(_ bytes: [UInt8]) throws {
        let s = fd
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(s, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError("send: \(errnoText())")
            }
            done += n
        }
    }

    /// Reads more bytes into `inbuf`; 0 at end of stream.
    private func receiveMore() throws -> Int {
        let s = fd
        var pfd = pollfd(fd: s, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&pfd, 1, HTTPRuns.replyTimeoutMillis)
            if r > 0 { break }
            if r == 0 { throw BenchError("no response within \(HTTPRuns.replyTimeoutMillis / 1000) s") }
            if errno != EINTR { throw BenchError("poll: \(errnoText())") }
        }
        while true {
            let n = scratch.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                inbuf.append(contentsOf: scratch[0..<n])
                return n
            }
            if n == 0 { return 0 }
            if errno == EINTR { continue }
            throw BenchError("recv: \(errnoText())")
        }
    }

    private func needMore() throws {
        if try receiveMore() == 0 { throw BenchError("connection closed by the server mid-response") }
    }

    /// One line (without CR LF) from `inbuf`.
    private func nextLine() throws -> String {
        var from = 0
        while true {
            if let lf = inbuf[from...].firstIndex(of: 10) {
                var end = lf
                if end > 0 && inbuf[end - 1] == 13 { end -= 1 }
                let line = String(decoding: inbuf[0..<end], as: UTF8.self)
                inbuf.removeFirst(lf + 1)
                return line
            }
            guard inbuf.count < 64 * 1024 else { throw BenchError("response line longer than 64 KiB") }
            from = inbuf.count
            try needMore()
        }
    }

    private func readExactly(_ n: Int) throws -> [UInt8] {
        while inbuf.count < n { try needMore() }
        let out = Array(inbuf[0..<n])
        inbuf.removeFirst(n)
        return out
    }

    private func readReply(method: String) throws -> HTTPReply {
        while true {
            // Status line and headers.
            let statusLine = try nextLine()
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw BenchError("bad status line: \(statusLine.prefix(100))")
            }
            var headers: [String: String] = [:]
            while true {
                let line = try nextLine()
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { $0 + ", " + value } ?? value
            }
            // Interim responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..<200).contains(status) && status != 101 { continue }
            let connection = headers["connection"]?.lowercased() ?? ""
            var closeAfter = connection.contains("close") || (parts[0] == "HTTP/1.0" && !connection.contains("keep-alive"))
            var body: [UInt8] = []
            if method == "HEAD" || status == 204 || status == 304 {
                // No body.
            } else if let te = headers["transfer-encoding"], te.lowercased().contains("chunked") {
                while true {
                    let sizeLine = try nextLine()
                    let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                    guard let size = Int(hex, radix: 16), size >= 0 else { throw BenchError("bad chunk size line: \(sizeLine.prefix(40))") }
                    if size == 0 {
                        while try !nextLine().isEmpty {}  // trailers
                        break
                    }
                    body += try readExactly(size)
                    _ = try nextLine()  // CR LF after the chunk
                }
            } else if let cl = headers["content-length"] {
                guard let n = Int(cl.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""), n >= 0 else {
                    throw BenchError("bad Content-Length: \(cl)")
                }
                body = try readExactly(n)
            } else {
                // Delimited by the end of the connection.
                while try receiveMore() > 0 {}
                body = inbuf
                inbuf.removeAll()
                closeAfter = true
            }
            if closeAfter { disconnect() }
            return HTTPReply(status: status, headers: headers, body: body)
        }
    }
}

/// `request`, then a check of the status; the error names the call, the status and the body.
@discardableResult
private func call(
    _ client: HTTPClient, _ method: String, _ target: String, body: [UInt8] = [], contentType: String? = nil, expect: Int
) throws -> HTTPReply {
    let r = try client.request(method, target, body: body, contentType: contentType)
    guard r.status == expect else {
        throw BenchError("\(method) \(target): HTTP \(r.status) (expected \(expect)): \(r.snippet)")
    }
    return r
}

// MARK: - Figures

/// One client, one operation at a time: over HTTP or in process.
struct OpFigures {
    var importMicros: Double?
    var fork: Summary?
    var read: Summary?
    var write: Summary?
    var delete: Summary?
    var error: String?

    var json: JSON {
        .object([
            ("import_us", .opt(importMicros)), ("fork", .opt(fork)), ("read_1k", .opt(read)), ("write_1k", .opt(write)),
            ("delete_session", .opt(delete)), ("error", .opt(error)),
        ])
    }
}

/// The path every load and sequential read GETs.
private let readPath = "/load/read-1k.bin"

/// In process, before the server starts: a store in its own directory, the same tar imported, then
/// the same sequence of calls as the HTTP client makes (one thread).
private func measureInProcess(storeDir: String, tar: String, n: Int) -> OpFigures {
    var f = OpFigures()
    do {
        try withStore(storeDir) { store in
            log("http: in process: import, \(n) forks, \(n) deletes, \(n) reads, \(n) writes")
            let (base, t) = try timed { try store.createSession(name: "base", from: .tar(tar)) }
            f.importMicros = t
            for _ in 0..<HTTPRuns.warmup { _ = try store.fork(base.id) }
            var xs: [Double] = []
            var forks: [String] = []
            for _ in 0..<n {
                let (info, dt) = try timed { try store.fork(base.id) }
                xs.append(dt)
                forks.append(info.id)
            }
            f.fork = Summary(xs)
            xs = []
            for id in forks { xs.append(try timed { try store.delete(id) }.1) }
            f.delete = Summary(xs)

            let load = try store.createSession(name: "load", from: .blank)
            var rng = SplitMix64(seed: 0x4777_0000)
            try store.writeFile(load.id, path: readPath, data: rng.bytes(1024))
            for _ in 0..<HTTPRuns.warmup { _ = try store.readFile(load.id, path: readPath) }
            xs = []
            for _ in 0..<n {
                let (bytes, dt) = try timed { try store.readFile(load.id, path: readPath) }
                guard bytes.count == 1024 else { throw BenchError("readFile returned \(bytes.count) bytes, expected 1024") }
                xs.append(dt)
            }
            f.read = Summary(xs)
            xs = []
            for i in 0..<n {
                let data = rng.bytes(1024)
                xs.append(try timed { try store.writeFile(load.id, path: "/seq/w\(pad(i, 5)).bin", data: data) }.1)
            }
            f.write = Summary(xs)
        }
    } catch {
        f.error = describe(error)
        log("http: in-process error: \(f.error!)")
    }
    return f
}

/// Over HTTP, one client on one keep-alive connection: the same sequence as `measureInProcess`.
/// Returns the figures, the imported session (forked under load) and the session for the load's reads and writes.
private func measureHTTPSequential(_ ep: ServerEndpoint, tar: [UInt8], n: Int) -> (figures: OpFigures, base: String?, load: String?, connects: Int) {
    var f = OpFigures()
    let client = HTTPClient(ep)
    var baseID: String?
    var loadID: String?
    do {
        try client.establish()
        log("http: POST /v1/sessions/import (\(fmtBytes(Double(tar.count))) tar)")
        let (imported, t) = try timed {
            try call(client, "POST", "/v1/sessions/import?name=http-base", body: tar, contentType: "application/x-tar", expect: 201)
        }
        guard let base = imported.jsonID else { throw BenchError("POST /v1/sessions/import: no id in \(imported.snippet)") }
        f.importMicros = t
        baseID = base

        log("http: \(n) sequential forks, then \(n) deletes, over one connection")
        for _ in 0..<HTTPRuns.warmup { try call(client, "POST", "/v1/sessions/\(base)/fork", expect: 201) }
        var xs: [Double] = []
        var forks: [String] = []
        for _ in 0..<n {
            let (r, dt) = try timed { try call(client, "POST", "/v1/sessions/\(base)/fork", expect: 201) }
            guard let id = r.jsonID else { throw BenchError("POST fork: no id in \(r.snippet)") }
            xs.append(dt)
            forks.append(id)
        }
        f.fork = Summary(xs)
        xs = []
        for id in forks { xs.append(try timed { try call(client, "DELETE", "/v1/sessions/\(id)", expect: 204) }.1) }
        f.delete = Summary(xs)

        log("http: \(n) sequential reads and \(n) writes of 1 KiB")
        let created = try call(client, "POST", "/v1/sessions", body: Array(#"{"name":"http-load","source":{"kind":"blank"}}"#.utf8),
                               contentType: "application/json", expect: 201)
        guard let load = created.jsonID else { throw BenchError("POST /v1/sessions: no id in \(created.snippet)") }
        loadID = load
        var rng = SplitMix64(seed: 0x4777_0000)
        try call(client, "PUT", "/v1/sessions/\(load)/files\(readPath)", body: rng.bytes(1024), contentType: "application/octet-stream", expect: 201)
        for _ in 0..<HTTPRuns.warmup { try call(client, "GET", "/v1/sessions/\(load)/files\(readPath)", expect: 200) }
        xs = []
        for _ in 0..<n {
            let (r, dt) = try timed { try call(client, "GET", "/v1/sessions/\(load)/files\(readPath)", expect: 200) }
            guard r.body.count == 1024 else { throw BenchError("GET \(readPath): \(r.body.count) bytes, expected 1024") }
            xs.append(dt)
        }
        f.read = Summary(xs)
        xs = []
        for i in 0..<n {
            let data = rng.bytes(1024)
            xs.append(try timed {
                try call(client, "PUT", "/v1/sessions/\(load)/files/seq/w\(pad(i, 5)).bin", body: data,
                         contentType: "application/octet-stream", expect: 201)
            }.1)
        }
        f.write = Summary(xs)
    } catch {
        f.error = describe(error)
        log("http: error: \(f.error!)")
    }
    let connects = client.connects
    client.disconnect()
    return (f, baseID, loadID, connects)
}

// MARK: - Load

enum LoadOp: String, Sendable, CaseIterable {
    case read, write, fork

    var label: String {
        switch self {
        case .read: return "read 1 KiB (`GET …/files/…`)"
        case .write: return "write 1 KiB, durable (`PUT …/files/…`, new path each)"
        case .fork: return "fork (`POST …/fork`, one session)"
        }
    }
}

/// What one client thread measured.
struct ClientOutcome: Sendable {
    var latencies: [Double] = []
    var errors = 0
    var firstError: String?
    var connects = 0
}

private struct BoardState: Sendable {
    var ready = 0
    var go = false
    var done: [ClientOutcome] = []
}

/// Start gate and result board shared by the client threads of one load phase.
final class LoadBoard: Sendable {
    private let state = Mutex(BoardState())

    func arrive() { state.withLock { $0.ready += 1 } }
    var readyCount: Int { state.withLock { $0.ready } }
    func open() { state.withLock { $0.go = true } }
    var isOpen: Bool { state.withLock { $0.go } }
    func finish(_ outcome: ClientOutcome) { state.withLock { $0.done.append(outcome) } }
    var finishedCount: Int { state.withLock { $0.done.count } }
    var outcomes: [ClientOutcome] { state.withLock { $0.done } }
}

struct LoadResult {
    var op: LoadOp
    var clients: Int
    var seconds: Int
    /// From opening the gate to the last client's end.
    var wallMicros: Double
    var latency: Summary?
    var errors: Int
    var firstError: String?
    var connects: Int

    var requests: Int { latency?.samples.count ?? 0 }
    var perSecond: Double? { wallMicros > 0 ? Double(requests) / (wallMicros / 1e6) : nil }

    var json: JSON {
        var kv: [(String, JSON)] = [
            ("op", .string(op.rawValue)), ("clients", .int(Int64(clients))), ("seconds", .int(Int64(seconds))),
            ("wall_us", .double(wallMicros)), ("requests", .int(Int64(requests))), ("requests_per_s", .opt(perSecond)),
            ("errors", .int(Int64(errors))), ("first_error", .opt(firstError)), ("connections", .int(Int64(connects))),
        ]
        if let s = latency {
            kv += [("p50_us", .double(s.p50)), ("p99_us", .double(s.percentile(99))), ("max_us", .double(s.max)), ("min_us", .double(s.min))]
        }
        return .object(kv)
    }
}

/// `clients` threads, each with its own connection, issue `op` back to back for `seconds` from a common start.
/// Successful requests are timed; failures are counted (and the first is kept).
private func runLoad(_ op: LoadOp, clients: Int, seconds: Int, endpoint: ServerEndpoint, loadSession: String, forkSession: String) -> LoadResult {
    let board = LoadBoard()
    for c in 0..<clients {
        let thread = Thread {
            var outcome = ClientOutcome()
            let client = HTTPClient(endpoint)
            do { try client.establish() } catch {
                outcome.errors += 1
                outcome.firstError = "\(error)"
            }
            board.arrive()
            while !board.isOpen { usleep(100) }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(seconds)
            var rng = SplitMix64(seed: 0x10AD_0000 &+ UInt64(c))
            var n = 0
            while clock.now < deadline {
                var body: [UInt8] = []
                let req: (method: String, target: String, expected: Int)
                switch op {
                case .read:
                    req = ("GET", "/v1/sessions/\(loadSession)/files\(readPath)", 200)
                case .write:
                    req = ("PUT", "/v1/sessions/\(loadSession)/files/load/c\(c)/w\(pad(n, 6)).bin", 201)
                    body = rng.bytes(1024)
                case .fork:
                    req = ("POST", "/v1/sessions/\(forkSession)/fork", 201)
                }
                let method = req.method
                n += 1
                let t0 = clock.now
                do {
                    let r = try client.request(method, req.target, body: body, contentType: op == .write ? "application/octet-stream" : nil)
                    let dt = micros(clock.now - t0)
                    let ok = r.status == req.expected && (op != .read || r.body.count == 1024)
                    if ok {
                        outcome.latencies.append(dt)
                    } else {
                        outcome.errors += 1
                        if outcome.firstError == nil { outcome.firstError = "\(method) → HTTP \(r.status), \(r.body.count) bytes: \(r.snippet)" }
                    }
                } catch {
                    outcome.errors += 1
                    if outcome.firstError == nil { outcome.firstError = "\(method): \(error)" }
                    usleep(1_000)  // a dead server must not turn this loop into a spin
                }
            }
            outcome.connects = client.connects
            client.disconnect()
            board.finish(outcome)
        }
        thread.start()
    }
    let clock = ContinuousClock()
    let readyBy = clock.now + .seconds(30)
    while board.readyCount < clients && clock.now < readyBy { usleep(1_000) }
    let t0 = clock.now
    board.open()
    while board.finishedCount < clients { usleep(1_000) }
    let wall = micros(clock.now - t0)
    let outcomes = board.outcomes
    return LoadResult(
        op: op, clients: clients, seconds: seconds, wallMicros: wall,
        latency: Summary(outcomes.flatMap(\.latencies)), errors: outcomes.reduce(0) { $0 + $1.errors },
        firstError: outcomes.compactMap(\.firstError).first, connects: outcomes.reduce(0) { $0 + $1.connects })
}

// MARK: - The figure

private func fmtSignedTime(_ us: Double) -> String { us < 0 ? "−" + fmtTime(-us) : "+" + fmtTime(us) }

private let httpTitle = "HTTP server: fork and load on loopback"
/// Issue 20's target (DESIGN §6 asked for 1 ms): one durable commit per request.
let httpTarget = (what: "fork over HTTP", target: "p50 ≤ 0.8 ms on loopback", p50Micros: 800.0)

private func notMeasuredSection(_ headline: String, note: String, failed: Bool, json: JSON) -> Section {
    Section(key: "http", title: httpTitle, headline: headline, body: "- \(note)\n", json: json,
            checks: [TargetCheck(what: httpTarget.what, target: httpTarget.target, measured: "—", status: .notMeasured, note: note)],
            failed: failed)
}

func httpSection(_ ctx: BenchContext, server: String) -> Section {
    guard FileManager.default.isExecutableFile(atPath: server) else {
        let note = "no afs-server at `\(server)`: \(httpBuildHint) (or give `--server PATH`)"
        log("http: n/a — \(note)")
        return notMeasuredSection("n/a: \(httpBuildHint)", note: note, failed: false,
                                  json: .object([("server", .string(server)), ("error", .string("n/a: \(httpBuildHint)"))]))
    }
    guard ctx.tools.tar else {
        return notMeasuredSection("n/a: tar not found", note: "tar not found (the tree is uploaded as a tar)", failed: false,
                                  json: .object([("server", .string(server)), ("error", .string("n/a: tar not found"))]))
    }
    let dir = ctx.work + "/http"
    defer { removeTree(dir) }
    let n = HTTPRuns.sequential(ctx.quick)
    let clients = HTTPRuns.clients(ctx.quick)
    let seconds = HTTPRuns.seconds(ctx.quick)

    // The tree and its tar (not timed).
    let tree = dir + "/tree"
    let tarPath = dir + "/tree.tar"
    let treeBytes: Int64
    let tarBytes: [UInt8]
    do {
        log("http: synthetic tree of \(HTTPRuns.treeFiles) files and its tar")
        treeBytes = try makeSyntheticTree(at: tree, files: HTTPRuns.treeFiles, seed: syntheticSeed(HTTPRuns.treeFiles))
        let r = runTool(["tar", "-C", tree, "-cf", tarPath, "."])
        guard r.ok else { throw BenchError("tar -c failed: \(r.errorLine)") }
        guard let data = FileManager.default.contents(atPath: tarPath) else { throw BenchError("cannot read \(tarPath)") }
        tarBytes = [UInt8](data)
    } catch {
        return notMeasuredSection("not measured: \(describe(error))", note: describe(error), failed: true,
                                  json: .object([("server", .string(server)), ("error", .string(describe(error)))]))
    }
    syncDisk(ctx.tools)

    // Baseline first, on its own store, closed before the server starts.
    let inProcess = measureInProcess(storeDir: dir + "/in-process-store", tar: tarPath, n: n)
    removeTree(dir + "/in-process-store")
    syncDisk(ctx.tools)

    // The server.
    log("http: starting \(server)")
    let proc: ServerProcess
    switch launchServer(server, directory: dir + "/server") {
    case .success(let p): proc = p
    case .failure(let e):
        log("http: \(e)")
        return notMeasuredSection("not measured: afs-server did not start (\(e))", note: "afs-server did not start: \(e)", failed: true,
                                  json: .object([("server", .string(server)), ("error", .string(e.description)),
                                                 ("in_process", inProcess.json)]))
    }
    log("http: listening on \(proc.endpoint.host):\(proc.endpoint.port) after \(fmtTime(proc.startMicros))")
    let seq = measureHTTPSequential(proc.endpoint, tar: tarBytes, n: n)
    var loads: [LoadResult] = []
    if let base = seq.base, let load = seq.load, seq.figures.error == nil {
        for op in LoadOp.allCases {
            log("http: load: \(op.rawValue), \(clients) clients × \(seconds) s")
            let r = runLoad(op, clients: clients, seconds: seconds, endpoint: proc.endpoint, loadSession: load, forkSession: base)
            log("http:   \(r.requests) requests, \(r.perSecond.map(fmtPerSecond) ?? "n/a"), p50 \(r.latency.map { fmtTime($0.p50) } ?? "n/a"), errors \(r.errors)")
            loads.append(r)
        }
    }
    log("http: stopping the server (SIGTERM)")
    let stop = stopServer(proc)
    let serverLog = tailOf(proc.stderrPath)

    // Tables.
    let http = seq.figures
    var body = "Server: `\(server)` on \(proc.endpoint.host):\(proc.endpoint.port), data directory on the scratch disk; "
    body += "ready \(fmtTime(proc.startMicros)) after spawn (banner seen), stopped by SIGTERM in \(fmtTime(stop.micros))"
    body += stop.status.map { " (exit status \($0))" } ?? ""
    body += stop.note.map { " — \($0)" } ?? ""
    body += ". Tree: \(HTTPRuns.treeFiles) synthetic files, \(fmtBytes(Double(treeBytes))); its tar \(fmtBytes(Double(tarBytes.count))).\n\n"

    body += "### One client, one keep-alive connection\n\n"
    var t1: [[String]] = []
    func seqRow(_ name: String, _ h: Summary?, _ i: Summary?, bold: Bool = false) {
        let b = bold ? "**" : ""
        let diff = (h != nil && i != nil) ? fmtSignedTime(h!.p50 - i!.p50) : "n/a"
        t1.append([name, h.map { b + $0.timeCell + b } ?? "n/a", i?.timeCell ?? "n/a", b + fmtRatio(ratio(h?.p50, i?.p50)) + b, diff])
    }
    let imp = (h: http.importMicros.flatMap { Summary([$0]) }, i: inProcess.importMicros.flatMap { Summary([$0]) })
    seqRow("import the tree (1 run; HTTP: `POST /v1/sessions/import` with the tar as body; in process: `createSession(from: .tar)`)", imp.h, imp.i)
    seqRow("**fork** ×\(n) (`POST /v1/sessions/{id}/fork` · `fork`)", http.fork, inProcess.fork, bold: true)
    seqRow("delete a session ×\(n) (`DELETE /v1/sessions/{id}` · `delete`)", http.delete, inProcess.delete)
    seqRow("read 1 KiB ×\(n) (`GET …/files/…` · `readFile`)", http.read, inProcess.read)
    seqRow("write 1 KiB, durable, new path each ×\(n) (`PUT …/files/…` · `writeFile`)", http.write, inProcess.write)
    body += mdTable(["operation", "over HTTP p50 (min–max)", "in process p50 (min–max)", "HTTP ÷ in process", "HTTP − in process"],
                    t1, align: ["l", "r", "r", "r", "r"])
    body += "\n- HTTP: afs-bench's own HTTP/1.1 client on one TCP connection (kept alive, `TCP_NODELAY`), admin bearer token; "
    body += "each request is timed from its first byte sent to the last byte of its response read, and checked (status; 1 KiB read back; the new session's id). "
    body += "\(HTTPRuns.warmup) untimed requests before each timed series. The connection was opened \(seq.connects) time(s).\n"
    body += "- In process: the same calls in the same order on an `AetherStore` in a separate directory of the same disk, one thread, "
    body += "before the server started; the same tar imported. Every mutating call (fork, delete, write) is durable on return in both.\n"
    if let e = http.error { body += "- HTTP error: \(e)\n" }
    if let e = inProcess.error { body += "- In-process error: \(e)\n" }

    let measuredP50: [LoadOp: Double?] = [.read: inProcess.read?.p50, .write: inProcess.write?.p50, .fork: inProcess.fork?.p50]
    let inProcessP50: [LoadOp: Double] = measuredP50.compactMapValues { $0 }
    body += "\n### Load: \(clients) clients × \(seconds) s per operation\n\n"
    if loads.isEmpty {
        body += "Not run: the sequential part failed.\n"
    } else {
        var t2: [[String]] = []
        for r in loads {
            let s = r.latency
            t2.append([
                r.op == .fork ? "**\(r.op.label)**" : r.op.label, "\(r.clients) × \(r.seconds) s", String(r.requests),
                r.perSecond.map(fmtPerSecond) ?? "n/a", s.map { fmtTime($0.p50) } ?? "n/a", s.map { fmtTime($0.percentile(99)) } ?? "n/a",
                s.map { fmtTime($0.max) } ?? "n/a", r.errors == 0 ? "0" : "**\(r.errors)**",
                inProcessP50[r.op].map(fmtTime) ?? "n/a", fmtRatio(ratio(s?.p50, inProcessP50[r.op])),
            ])
        }
        body += mdTable(["operation", "clients × time", "requests", "requests/s", "p50", "p99", "max", "errors", "in process p50 (1 thread)", "p50 ÷ in process"],
                        t2, align: ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"])
        body += "\n- Each client is a thread with its own keep-alive connection; all start together and issue requests back to back until \(seconds) s have passed. "
        body += "requests/s = successful requests ÷ wall time from the start to the last client's last response. Latency counts only successful requests.\n"
        body += "- Reads GET one 1 KiB file; writes PUT 1 KiB of random bytes to a new path per request (`/load/cK/wN.bin`), all clients in the same session; "
        body += "forks POST `/fork` of the imported \(HTTPRuns.treeFiles)-file session. In process: one thread, from the table above.\n"
        body += "- Client threads and server share this machine's \(ProcessInfo.processInfo.activeProcessorCount) cores, so the load figures are a floor for a server on its own machine.\n"
        for r in loads where r.errors > 0 {
            body += "- \(r.op.rawValue): \(r.errors) failed requests; first: \(r.firstError ?? "?")\n"
        }
        let conns = loads.filter { $0.connects > $0.clients }
        for r in conns { body += "- \(r.op.rawValue): \(r.connects) connections opened for \(r.clients) clients (reconnects after errors or `Connection: close`).\n" }
    }
    if stop.status != 0 || stop.note != nil { body += "- Server stop: \(stop.note ?? "exit status \(stop.status.map { "\($0)" } ?? "?")"); stderr: \(serverLog)\n" }

    // Headline.
    var headline: String
    if let h = http.fork {
        headline = "fork over HTTP p50 \(fmtTime(h.p50)) on loopback (\(n) forks on one connection), \(fmtRatio(ratio(h.p50, inProcess.fork?.p50))) the in-process fork"
        if let i = inProcess.fork { headline += " (\(fmtTime(i.p50)))" }
        let parts = loads.compactMap { r -> String? in
            guard let ps = r.perSecond, r.requests > 0 else { return nil }
            let name = r.op == .read ? "1 KiB reads" : r.op == .write ? "durable 1 KiB writes" : "forks"
            return "\(name) \(fmtPerSecond(ps)) (p99 \(fmtTime(r.latency!.percentile(99))))"
        }
        if !parts.isEmpty { headline += "; \(clients) clients: " + parts.joined(separator: ", ") }
    } else {
        headline = "fork over HTTP: not measured (\(http.error ?? "error"))"
    }

    // Plot: p50 / p99 per operation, next to the in-process p50.
    let groups = ["fork ×1", "read ×1", "write ×1"] + loads.map { "\($0.op.rawValue) ×\($0.clients)" }
    let seqStats = [http.fork, http.read, http.write]
    let seqBase = [inProcess.fork, inProcess.read, inProcess.write].map { $0?.p50 }
    let chart = BarChart(
        title: "Request latency over HTTP on loopback", yLabel: "latency per request (log)", groups: groups,
        series: [
            (name: "HTTP p50", values: seqStats.map { $0?.p50 } + loads.map { $0.latency?.p50 }),
            (name: "HTTP p99", values: seqStats.map { $0?.percentile(99) } + loads.map { $0.latency?.percentile(99) }),
            (name: "in process p50 (1 thread)", values: seqBase + loads.map { inProcessP50[$0.op] }),
        ],
        yTick: axisMicros, valueLabel: axisMicros,
        subtitle: "×1: one client on one keep-alive connection; ×\(clients): \(clients) concurrent clients for \(seconds) s; 1 KiB reads and durable writes")
    let plot = PlotFile(file: "http-latency.svg", alt: "Latency over HTTP (p50, p99) per operation next to the in-process call", svg: chart.svg())

    // Target.
    var checks: [TargetCheck] = []
    if let h = http.fork {
        var note = "\(n) sequential `POST /v1/sessions/{id}/fork` of a \(HTTPRuns.treeFiles)-file session on one keep-alive loopback connection, timed in the client"
        if let i = inProcess.fork { note += "; the in-process fork in the same run is \(fmtTime(i.p50)), so HTTP adds \(fmtSignedTime(h.p50 - i.p50))" }
        checks.append(TargetCheck(
            what: httpTarget.what, target: httpTarget.target, measured: "p50 \(h.timeCell)",
            status: h.p50 <= httpTarget.p50Micros ? .met : .notMet, note: note))
    } else {
        checks.append(TargetCheck(what: httpTarget.what, target: httpTarget.target, measured: "—", status: .notMeasured, note: http.error))
    }

    // What dominates.
    var dominates: [String] = []
    if let hr = http.read, let ir = inProcess.read, let hf = http.fork, let inf = inProcess.fork {
        var d = "HTTP: a small request on a kept-alive loopback connection costs ≈ \(fmtTime(hr.p50 - ir.p50)) more than the call in process "
        d += "(1 KiB read: \(fmtTime(hr.p50)) vs \(fmtTime(ir.p50))) — loopback round trip, HTTP parsing, the auth and metrics middleware, "
        d += "the session lookup of the authorization check and the hop to NIO's thread pool for the blocking store call. "
        d += "A fork over HTTP (\(fmtTime(hf.p50))) is the in-process fork's durable commit (\(fmtTime(inf.p50))) plus that overhead"
        d += hf.p50 > 0 ? String(format: " (the commit is %.0f %% of it).", 100 * inf.p50 / hf.p50) : "."
        dominates.append(d)
    }
    if let w = loads.first(where: { $0.op == .write }), let ps = w.perSecond, let iw = inProcess.write {
        dominates.append("Writes under load: \(fmtPerSecond(ps)) with \(w.clients) clients against 1 ÷ \(fmtTime(iw.p50)) = "
            + "\(fmtPerSecond(1e6 / iw.p50)) for one thread in process: concurrent writers share group commits.")
    }

    let json: JSON = .object([
        ("server", .string(server)), ("host", .string(proc.endpoint.host)), ("port", .int(Int64(proc.endpoint.port))),
        ("server_start_us", .double(proc.startMicros)), ("server_stop_us", .double(stop.micros)),
        ("server_exit_status", .opt(stop.status.map { Int64($0) })), ("server_stop_note", .opt(stop.note)),
        ("tree_files", .int(Int64(HTTPRuns.treeFiles))), ("tree_bytes", .int(treeBytes)), ("tar_bytes", .int(Int64(tarBytes.count))),
        ("sequential_requests", .int(Int64(n))), ("warmup_requests", .int(Int64(HTTPRuns.warmup))),
        ("sequential_connections", .int(Int64(seq.connects))),
        ("http", http.json), ("in_process", inProcess.json),
        ("ratio_fork_http_over_in_process_p50", .opt(ratio(http.fork?.p50, inProcess.fork?.p50))),
        ("load", .array(loads.map(\.json))),
    ])
    let failed = http.error != nil || inProcess.error != nil || loads.contains { $0.errors > 0 }
    return Section(key: "http", title: httpTitle, headline: headline, body: body, json: json,
                   plots: [plot], checks: checks, dominates: dominates, failed: failed)
}

import AFSTestSupport
import Foundation
import Testing

/// Requests no well-behaved client sends: each gets a 4xx or a closed connection, never a 5xx,
/// writes nothing, and leaves the server answering everyone else.
@Suite(.offCooperativePool) struct HostileHTTPTests {
    func port(_ server: ServerHarness) throws -> Int {
        try #require(Int(server.base.split(separator: ":").last ?? ""))
    }

    func healthy(_ server: ServerHarness) throws -> Bool {
        try server.request("GET", "/v1/health").status == 200
    }

    /// A head or a body that stops arriving is dropped after the idle timeout (2 s here), whether
    /// it trickles or stalls; nothing it carried is written.
    @Test func slowAndEndlessHeadsAndBodiesTimeOut() throws {
        let server = try ServerHarness(environment: ["AFS_IDLE_TIMEOUT": "2"])
        defer { server.cleanup() }
        let session = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        let started = Date()
        // A head that never ends: one header line per 0.5 s.
        let slow = try RawConnection(port: try port(server))
        slow.send("GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        var trickled = 0
        while trickled < 40, slow.send("X-Slow-\(trickled): y\r\n") {
            trickled += 1
            Thread.sleep(forTimeInterval: 0.5)
            if slow.readUntilClosed(seconds: 0).closed { break }
        }
        #expect(slow.readUntilClosed(seconds: 10).closed, "a head trickled for \(trickled) lines was not dropped")
        #expect(Date().timeIntervalSince(started) < 15)
        // A body that stops: 1 MB announced, 10 bytes sent.
        let stalled = try RawConnection(port: try port(server))
        stalled.send(
            "PUT /v1/sessions/\(session)/files/stalled.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(server.adminToken)\r\nContent-Length: 1000000\r\n\r\n0123456789"
        )
        let answer = stalled.readUntilClosed(seconds: 15)
        #expect(answer.closed, "a stalled body kept its connection")
        #expect(try server.request("GET", "/v1/sessions/\(session)/stat/stalled.bin").status == 404, "a body that never finished was written")
        #expect(try healthy(server))
    }

    /// Oversized heads, bodies over the limit, truncated chunked bodies, broken JSON (invalid
    /// UTF-8, NUL in names, 10,000 levels deep), repeated and huge query parameters: 4xx each.
    @Test func malformedRequestsGet4xxAndTheServerStaysUp() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        server.checksContract = false
        let session = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        let auth = "Authorization: Bearer \(server.adminToken)\r\n"

        // A header of 100 KB.
        let big = try RawConnection(port: try port(server))
        big.send("GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n")
        let bigAnswer = big.readUntilClosed(seconds: 10)
        #expect(RawConnection.status(bigAnswer.bytes).map { (400..<500).contains($0) } ?? bigAnswer.closed, "\(RawConnection.status(bigAnswer.bytes) ?? 0)")

        // A JSON body over the 4 MiB limit.
        let huge = try server.request("POST", "/v1/sessions/\(session)/batch", body: Data(repeating: UInt8(ascii: " "), count: 5 << 20), headers: ["Content-Type": "application/json"])
        #expect(huge.status == 413, "\(huge.status) \(huge.text.prefix(200))")

        // A chunked upload cut off mid-body: nothing is written.
        let cut = try RawConnection(port: try port(server))
        cut.send("PUT /v1/sessions/\(session)/files/cut.txt HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n100\r\nabc")
        cut.finishSending()
        let cutAnswer = cut.readUntilClosed(seconds: 10)
        #expect(
            RawConnection.status(cutAnswer.bytes).map { (400..<500).contains($0) } ?? cutAnswer.closed,
            "\(String(decoding: cutAnswer.bytes.prefix(300), as: UTF8.self))")
        #expect(try server.request("GET", "/v1/sessions/\(session)/stat/cut.txt").status == 404, "a truncated body was written")

        // JSON that is not valid UTF-8, that names a file with a NUL, and that nests 10,000 deep.
        let invalid = try server.request("POST", "/v1/sessions", body: Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]), headers: ["Content-Type": "application/json"])
        #expect(invalid.status == 400, "\(invalid.status) \(invalid.text)")
        let nul = try server.request(
            "POST", "/v1/sessions/\(session)/batch", body: Data(#"{"changes":[{"op":"write","path":"/a\u0000b","data":"eA=="}]}"#.utf8),
            headers: ["Content-Type": "application/json"])
        let outcome = (try? nul.object())?["outcomes"] as? [[String: Any]]
        #expect(nul.status == 200 && outcome?.first?["code"] as? String == "invalid_path", "a NUL in a name is refused: \(nul.status) \(nul.text)")
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files/a%00b", body: Data("x".utf8)).status == 400)
        let deep = Data((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)
        let deepAnswer = try server.request("POST", "/v1/sessions", body: deep, headers: ["Content-Type": "application/json"])
        #expect(deepAnswer.status == 400, "\(deepAnswer.status) \(deepAnswer.text.prefix(200))")

        // A parameter the route takes once, given twice; a query string of 20 KB.
        let twice = try server.request("GET", "/v1/sessions/\(session)/changes?limit=1&limit=2")
        #expect(twice.status == 400 && twice.text.contains("more than once"), "\(twice.status) \(twice.text)")
        let long = try server.request("GET", "/v1/sessions?x=" + String(repeating: "a", count: 20_000))
        #expect(long.status == 414, "\(long.status)")
        // Repeatable parameters stay repeatable.
        #expect(try server.request("PUT", "/v1/knowledge/k?tag=a&tag=b", json: ["v": 1]).status == 200)

        #expect(try healthy(server))
        #expect(try server.request("GET", "/v1/sessions/\(session)").status == 200)
    }
}

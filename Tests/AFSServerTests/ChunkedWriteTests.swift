import AFSClient
import AFSCore
import AFSTestSupport
import Foundation
import Testing

/// Chunk-level uploads over HTTP: `RemoteStore` sends chunk IDs first and only the chunks the
/// server's version of the file lacks; the server checks what arrives.
@Suite(.offCooperativePool) struct ChunkedWriteTests {
    static func writeLocal(_ bytes: [UInt8], _ path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    @Test(arguments: ServerBackend.allCases) func editsOfALargeFileSendOnlyTheEditedChunks(_ backend: ServerBackend) throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let remote = try RemoteStore(endpoint: server.base, token: server.adminToken)
        let session = try remote.createSession(name: "big", from: .blank, context: .anonymous, progress: nil).id
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<(6 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let local = server.data + "-local.bin"
        defer { unlink(local) }

        func upload() throws {
            Self.writeLocal(bytes, local)
            let fd = open(local, O_RDONLY)
            defer { close(fd) }
            try remote.writeFile(session, path: "/data/big.bin", from: fd, mode: nil, mtime: nil, context: .anonymous)
        }
        // A new file has no base: it goes whole.
        try upload()
        #expect(remote.chunkStatistics.uploadCount == 0)
        // An edit in the middle and an append: a few chunks travel.
        for i in 0..<200 { bytes[3_000_000 + i] = 0 }
        bytes.append(contentsOf: [UInt8](repeating: 7, count: 5000))
        try upload()
        #expect(remote.chunkStatistics.uploadCount == 1)
        #expect(remote.chunkStatistics.bytesSent <= 4 * ChunkedContent.maxChunkSize, "sent \(remote.chunkStatistics.bytesSent) bytes")
        #expect(remote.chunkStatistics.bytesSent + remote.chunkStatistics.bytesReused == bytes.count)
        #expect(try remote.readFile(session, path: "/data/big.bin", offset: 0, length: nil) == bytes)
        // The same content ID as the same bytes sent whole.
        let whole = server.data + "-whole.bin"
        defer { unlink(whole) }
        Self.writeLocal(bytes, whole)
        let put = try server.request("PUT", "/v1/sessions/\(session)/files/whole.bin", bodyFile: whole)
        #expect(put.status == 201)
        #expect(try remote.stat(session, path: "/data/big.bin").contentID == (try put.object()["content_id"] as? String))
        // Unchanged: nothing but references.
        try upload()
        #expect(remote.chunkStatistics.uploadCount == 2)
        #expect(remote.chunkStatistics.bytesSent <= 4 * ChunkedContent.maxChunkSize)
        // Small files are sent whole.
        bytes = Array(bytes[0..<1000])
        try upload()
        #expect(remote.chunkStatistics.uploadCount == 2)
        #expect(try remote.readFile(session, path: "/data/big.bin", offset: 0, length: nil) == bytes)
    }

    /// A streamed write carries the change time its writer showed (`X-AFS-Ctime`), whole and
    /// chunked; a malformed one is refused before anything is written.
    @Test func streamedWritesKeepTheChangeTimeTheirWriterShowed() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let remote = try RemoteStore(endpoint: server.base, token: server.adminToken)
        let session = try remote.createSession(name: "ctime", from: .blank, context: .anonymous, progress: nil).id
        let local = server.data + "-ctime.bin"
        defer { unlink(local) }
        let shown: Int64 = (Int64(Date().timeIntervalSince1970) - 5) * 1_000_000_000
        for (path, size) in [("/small", 100), ("/large", Int(RemoteStore.chunkedThreshold) + 5000), ("/large", Int(RemoteStore.chunkedThreshold) + 9000)] {
            Self.writeLocal((0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) }, local)
            let fd = open(local, O_RDONLY)
            defer { close(fd) }
            try remote.writeFile(session, path: path, from: fd, mode: nil, mtime: nil, ctime: shown, context: .anonymous)
            #expect(try remote.stat(session, path: path).ctime == shown, "\(path), \(size) bytes")
        }
        #expect(remote.chunkStatistics.uploadCount == 1, "the rewrite of /large went chunk by chunk")
        let bad = try server.request("PUT", "/v1/sessions/\(session)/files/small", body: Data("x".utf8), headers: ["X-AFS-Ctime": "yesterday"])
        #expect(bad.status == 400 && bad.text.contains("X-AFS-Ctime"))
        #expect(try remote.readFile(session, path: "/small", offset: 0, length: 1) == [0])
    }

    /// `POST /v1/sessions/{id}/batch` through the client: one call, the outcomes in order, the
    /// bytes and metadata as sent; a malformed body is a 400 or 422 that changes nothing.
    @Test(arguments: ServerBackend.allCases) func batchesApplyManyChangesInOneCall(_ backend: ServerBackend) throws {
        let server = try ServerHarness(backend: backend)
        defer { server.cleanup() }
        let remote = try RemoteStore(endpoint: server.base, token: server.adminToken)
        let session = try remote.createSession(name: "batch", from: .blank, context: .anonymous, progress: nil).id
        var changes: [BatchChange] = [.makeDirectory("/pkg", mode: 0o755)]
        for i in 0..<50 { changes.append(.write("/pkg/m\(i).js", data: Array("module \(i)".utf8), mode: 0o644, mtime: 1_700_000_000_000_000_000 + Int64(i))) }
        changes.append(.makeDirectory("/pkg", mode: 0o755))
        changes.append(.remove("/pkg/m0.js"))
        let outcomes = try remote.apply(session, changes, context: .anonymous)
        #expect(outcomes.count == changes.count)
        #expect(outcomes.filter { $0.error != nil }.map(\.error?.code) == [.alreadyExists])
        #expect(outcomes[5].stat?.mtime == 1_700_000_000_000_000_004 && outcomes[5].stat?.size == 8)
        #expect(try remote.list(session, path: "/pkg").count == 49)
        #expect(try remote.readFile(session, path: "/pkg/m7.js", offset: 0, length: nil) == Array("module 7".utf8))
        let bad = try server.request("POST", "/v1/sessions/\(session)/batch", body: Data(#"{"changes": [{"op": "explode", "path": "/x"}]}"#.utf8), headers: ["Content-Type": "application/json"])
        #expect(bad.status == 422)
        let notJSON = try server.request("POST", "/v1/sessions/\(session)/batch", body: Data("nope".utf8), headers: ["Content-Type": "application/json"])
        #expect(notJSON.status == 400)
        #expect(try remote.list(session, path: "/pkg").count == 49)
    }

    @Test func malformedChunkedBodiesAreRefused() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let created = try server.request("POST", "/v1/sessions", json: ["name": "c", "source": ["kind": "blank"]])
        let id = try #require(try created.object()["id"] as? String)
        var generator = SystemRandomNumberGenerator()
        let original = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let local = server.data + "-c.bin"
        defer { unlink(local) }
        Self.writeLocal(original, local)
        #expect(try server.request("PUT", "/v1/sessions/\(id)/files/f", bodyFile: local).status == 201)
        let fd = open(local, O_RDONLY)
        let pieces = try ChunkedContent.pieces(ofDescriptor: fd)
        close(fd)
        try #require(pieces.count > 2 && pieces[0].id != pieces[1].id)
        let headers = ["Content-Type": ChunkedContent.mediaType]
        func put(_ body: [UInt8]) throws -> (Int, String?) {
            let r = try server.request("PUT", "/v1/sessions/\(id)/files/f", body: Data(body), headers: headers)
            return (r.status, r.errorCode)
        }
        let firstBytes = Array(original[0..<pieces[0].length])
        // Bytes that do not hash to their ID.
        let wrongHash = try put(ChunkedContent.dataHeader(pieces[1].id, length: firstBytes.count) + firstBytes)
        #expect(wrongHash.0 == 400, "\(wrongHash)")
        // A body cut off inside a record.
        #expect(try put(ChunkedContent.dataHeader(pieces[0].id, length: firstBytes.count) + firstBytes.dropLast(10)).0 == 400)
        // A length out of range, an unknown tag.
        #expect(try put(ChunkedContent.reference(pieces[0].id, length: 0)).0 == 400)
        #expect(try put([9] + ChunkedContent.reference(pieces[0].id, length: 1).dropFirst()).0 == 400)
        // A reference to a chunk the base does not hold: 409, send the bytes.
        let other = try server.request("PUT", "/v1/sessions/\(id)/files/g", body: Data([1, 2, 3]))
        #expect(other.status == 201)
        let unknown = try put(ChunkedContent.reference(pieces[0].id, length: pieces[0].length))
        #expect(unknown.0 == 201, "a reference to the file's own chunk is fine")
        let foreign = try server.request(
            "PUT", "/v1/sessions/\(id)/files/g", body: Data(ChunkedContent.reference(pieces[1].id, length: pieces[1].length)), headers: headers)
        #expect(foreign.status == 409)
        // The missing-chunks question: only the base counts; bad IDs are a 400.
        let asked = try server.request("POST", "/v1/sessions/\(id)/chunks/missing", json: ["path": "/g", "chunks": [pieces[1].id.hex]])
        #expect(try asked.object()["missing"] as? [String] == [pieces[1].id.hex])
        #expect(try server.request("POST", "/v1/sessions/\(id)/chunks/missing", json: ["path": "/g", "chunks": ["xyz"]]).status == 400)
        #expect(try server.request("GET", "/v1/sessions/\(id)/files/g").body == Data([1, 2, 3]), "refused writes change nothing")
    }
}

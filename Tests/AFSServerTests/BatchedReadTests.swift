import AFSClient
import AFSCore
import AFSGRPC
import AFSTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Many files in one request (`POST /v1/sessions/{id}/read`, gRPC `Files/ReadMany`), as a mount's
/// readahead fetches them: the regular files among the paths, in order, from one version.
@Suite(.offCooperativePool) struct BatchedReadTests {
    /// What `readFiles` handed over: path → bytes, in order.
    static func read(_ service: any AetherService, _ session: String, _ paths: [String]) throws -> [(String, [UInt8])] {
        let scratch = "/tmp/afs-batched-read-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(scratch) }
        var got: [(String, [UInt8])] = []
        try service.readFiles(session, paths: paths) { (file) throws(AFSError) in
            let fd = open(scratch, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            defer { close(fd) }
            try file.copy(to: fd)
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: scratch))).map { [UInt8]($0) } ?? []
            #expect(UInt64(bytes.count) == file.size, "\(file.path): \(bytes.count) of \(file.size) bytes")
            got.append((file.path, bytes))
        }
        return got
    }

    /// Both transports: the same files, in the order asked, with what is no regular file left out.
    @Test(arguments: ["in-process"] + ServerBackend.allCases.map(\.rawValue)) func readsTheRegularFilesInOrder(_ transport: String) throws {
        let server = transport == "in-process" ? nil : try ServerHarness(backend: ServerBackend(rawValue: transport)!)
        defer { server?.cleanup() }
        let directory = "/tmp/afs-batched-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let service: any AetherService = try server.map { try RemoteStore(endpoint: $0.base, token: $0.adminToken) } ?? AetherStore.open(at: directory)
        defer { try? service.close() }
        let session = try service.createSession(name: "batched", from: .blank, context: .anonymous, progress: nil).id
        let large = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try service.writeFile(session, path: "/src/a.c", data: Array("int a;\n".utf8), mode: nil, context: .anonymous)
        try service.writeFile(session, path: "/src/empty", data: [], mode: nil, context: .anonymous)
        try service.writeFile(session, path: "/big.bin", data: large, mode: nil, context: .anonymous)
        try service.symlink(session, path: "/link", target: "src/a.c", context: .anonymous)
        let got = try Self.read(service, session, ["/big.bin", "/src", "/missing", "/link", "src/empty", "/src/a.c", "/big.bin"])
        #expect(got.map(\.0) == ["/big.bin", "/src/empty", "/src/a.c", "/big.bin"])
        #expect(got.map(\.1) == [large, [], Array("int a;\n".utf8), large])
        #expect(try Self.read(service, session, []).isEmpty)

        // A malformed path refuses the whole read before any file; so do too many paths.
        let hostile = #expect(throws: AFSError.self) { _ = try Self.read(service, session, ["/src/a.c", "/src/../../etc/passwd"]) }
        #expect(hostile?.code == .invalidPath)
        let tooMany = #expect(throws: AFSError.self) { _ = try Self.read(service, session, Array(repeating: "/src/a.c", count: AetherStore.readFilesLimit + 1)) }
        #expect(tooMany?.code == .invalidArgument)
        #expect(throws: AFSError.self) { _ = try Self.read(service, "ses_doesnotexist", ["/src/a.c"]) }

        // An error of the receiver ends the read with that error; the client is usable after.
        let stop = #expect(throws: AFSError.self) {
            try service.readFiles(session, paths: ["/big.bin", "/src/a.c"]) { (_) throws(AFSError) in throw AFSError(.conflict, "enough") }
        }
        #expect(stop?.code == .conflict && stop?.message == "enough")
        #expect(try Self.read(service, session, ["/src/a.c"]).map(\.1) == [Array("int a;\n".utf8)])
    }

    /// The HTTP answer itself: a tar archive any tar reads, and a 400 for a hostile path.
    @Test func theAnswerIsATarArchive() throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        let session = try #require(try server.request("POST", "/v1/sessions", json: ["source": ["kind": "blank"]]).object()["id"] as? String)
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files/src/main.c", body: Data("int main(){}\n".utf8)).status == 201)
        #expect(try server.request("PUT", "/v1/sessions/\(session)/files/README.md", body: Data("# hi\n".utf8)).status == 201)
        let archive = server.data + "-read.tar"
        defer { unlink(archive) }
        let reply = try server.request("POST", "/v1/sessions/\(session)/read", json: ["paths": ["/README.md", "/nothing", "/src/main.c"]], outputFile: archive)
        #expect(reply.status == 200)
        #expect(reply.headers.lowercased().contains("content-type: application/x-tar"))
        let listing = Process()
        listing.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        listing.arguments = ["-tvf", archive]
        let out = Pipe()
        listing.standardOutput = out
        try listing.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        listing.waitUntilExit()
        #expect(listing.terminationStatus == 0)
        let names = text.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(names == ["README.md", "src/main.c"], "\(text)")
        let bad = try server.request("POST", "/v1/sessions/\(session)/read", json: ["paths": ["/a/../../b"]])
        #expect(bad.status == 400 && bad.errorCode != nil, "\(bad.status) \(bad.text)")
        let misnamed = try server.request("POST", "/v1/sessions/\(session)/read", json: ["files": ["/README.md"]])
        #expect(misnamed.status == 422 && misnamed.errorCode == "invalid_body", "\(misnamed.status) \(misnamed.text)")
    }

    /// gRPC ReadMany: each file's first chunk carries its stat.
    @Test func readManyOverGRPC() async throws {
        let server = try ServerHarness()
        defer { server.cleanup() }
        try await GRPCTests().withClients(server) { c in
            let admin = GRPCTests.auth(server.adminToken)
            let session = try await GRPCTests.blank(c, admin, name: "many")
            let a = try await GRPCTests.write(c, admin, session: session.id, path: "/a.txt", pieces: [Data("alpha".utf8)])
            try await GRPCTests.write(c, admin, session: session.id, path: "/d/empty", pieces: [])
            var request = Aether_V1_ReadManyRequest()
            request.session = session.id
            request.paths = ["/d/empty", "/d", "/nope", "/a.txt"]
            let files = try await c.files.readMany(request, metadata: admin) { response in
                var files: [(Aether_V1_FileStat, Data)] = []
                for try await chunk in response.messages {
                    if chunk.hasStat {
                        #expect(chunk.offset == 0)
                        files.append((chunk.stat, Data()))
                    }
                    #expect(chunk.offset == UInt64(files[files.count - 1].1.count))
                    files[files.count - 1].1.append(chunk.data)
                }
                return files
            }
            #expect(files.map(\.0.path) == ["/d/empty", "/a.txt"])
            // (A write's header may carry the change time its writer showed.)
            let shown = (Int64(Date().timeIntervalSince1970) - 5) * 1_000_000_000
            let changed = try await GRPCTests.write(c, admin, session: session.id, path: "/d/changed", pieces: [Data("c".utf8)], ctime: shown)
            #expect(changed.ctime.seconds * 1_000_000_000 + Int64(changed.ctime.nanos) == shown)
            #expect(files.map(\.1) == [Data(), Data("alpha".utf8)])
            #expect(files.last?.0.contentID == a.contentID && files.last?.0.size == 5)
            request.paths = ["/a.txt", "../x"]
            let code = await GRPCTests.code { _ = try await c.files.readMany(request, metadata: admin) { response in for try await _ in response.messages {} } }
            #expect(code == .invalidArgument, "\(String(describing: code))")
        }
    }
}

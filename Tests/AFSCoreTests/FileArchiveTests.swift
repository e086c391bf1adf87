import AFSTar
import Foundation
import Testing

@testable import AFSCore

/// The archive a batched read answers with, produced a piece at a time.
@Suite struct FileArchiveTests {
    @Test func piecesMakeOneArchiveOfTheFilesInOrder() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.path, options: smallStoreOptions())
        defer { try? store.close() }
        let id = try store.createSession(name: "s", from: .blank).id
        var random = SeededRandom(seed: 7)
        let large = random.bytes(300_000)
        let long = "/" + String(repeating: "deep/", count: 30) + "name.txt"
        try store.writeFile(id, path: "/a.txt", data: Array("alpha".utf8))
        try store.writeFile(id, path: "/big.bin", data: large)
        try store.writeFile(id, path: "/empty", data: [])
        try store.writeFile(id, path: long, data: Array("long".utf8))
        try store.setMode(id, path: "/a.txt", mode: 0o600)
        try store.makeDirectory(id, path: "/dir", parents: false)

        let files = try store.openFiles(id, paths: ["/big.bin", "/dir", "/none", "a.txt", "/empty", long])
        #expect(files.map { $0?.path } == ["/big.bin", nil, nil, "/a.txt", "/empty", long])
        let archive = FileArchive(files.compactMap { $0 }, pieceSize: 64 << 10)
        var bytes: [UInt8] = []
        var pieces = 0
        while let piece = try archive.next() {
            #expect(!piece.isEmpty)
            #expect(piece.count <= (64 << 10) * 2 + 4096, "a piece stays near its size: \(piece.count)")
            bytes += piece
            pieces += 1
        }
        #expect(archive.isComplete && pieces >= 5, "\(pieces) pieces")
        #expect(try archive.next() == nil)

        var reader = TarReader(source: ArrayByteSource(bytes))
        var read: [(String, UInt32, [UInt8])] = []
        while let entry = try reader.next() {
            var content: [UInt8] = []
            while case let chunk = try reader.readContent(maxLength: 1 << 20), !chunk.isEmpty { content += chunk }
            read.append((entry.path, entry.mode, content))
        }
        #expect(read.map(\.0) == ["big.bin", "a.txt", "empty", String(long.dropFirst())])
        #expect(read.map(\.2) == [large, Array("alpha".utf8), [], Array("long".utf8)])
        #expect(read[1].1 == 0o600)

        // A malformed path, or too many, refuses the whole read.
        #expect(throws: AFSError.self) { try store.openFiles(id, paths: ["/a.txt", "/x/../../y"]) }
        let tooMany = #expect(throws: AFSError.self) { try store.openFiles(id, paths: Array(repeating: "/a.txt", count: AetherStore.readFilesLimit + 1)) }
        #expect(tooMany?.code == .invalidArgument)
        // Every file is from one version: opened together, read after a rewrite.
        let before = try store.openFiles(id, paths: ["/a.txt", "/empty"])
        try store.writeFile(id, path: "/a.txt", data: Array("changed".utf8))
        #expect(try before[0]!.read(offset: 0, length: 100) == Array("alpha".utf8))
    }
}

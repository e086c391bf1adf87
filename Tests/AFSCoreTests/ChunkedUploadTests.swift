import AFSTestSupport
import Foundation
import Testing
@testable import AFSCore

/// Uploads that send chunk IDs first and only the chunks the base lacks (``ChunkedContent``).
@Suite(.offCooperativePool) struct ChunkedUploadTests {
    /// The pieces of `bytes` as a client would cut them from a file.
    static func pieces(_ bytes: [UInt8], in dir: TemporaryDirectory) throws -> [ChunkedContent.Piece] {
        let path = dir.sub("local-\(UUID().uuidString.prefix(6))")
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        return try ChunkedContent.pieces(ofDescriptor: fd)
    }

    /// Sends `bytes` as a chunked upload of `path` against its current version: references for
    /// chunks the base has, bytes for the rest. Returns how many bytes travelled.
    @discardableResult
    static func upload(_ store: AetherStore, _ session: String, _ path: String, _ bytes: [UInt8], in dir: TemporaryDirectory) throws -> Int {
        let pieces = try pieces(bytes, in: dir)
        let missing = Set(try store.missingChunks(session, bases: [path], of: pieces.map(\.id)))
        let upload = try store.beginUpload(session, path: path, bases: [path])
        var sent = 0
        for piece in pieces {
            if missing.contains(piece.id) {
                let start = Int(piece.offset)
                try upload.appendChunk(Array(bytes[start..<start + piece.length]), id: piece.id)
                sent += piece.length
            } else {
                try upload.appendReference(piece.id, length: piece.length)
            }
        }
        try upload.finish()
        return sent
    }

    @Test func anEditSendsOnlyTheChunksItTouches() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"))
        let s = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 7)
        var bytes = rng.bytes(4 << 20)
        try store.writeFile(s.id, path: "/big.bin", data: bytes)
        // The client cuts exactly what the store cut.
        let pieces = try Self.pieces(bytes, in: dir)
        #expect(pieces.reduce(0) { $0 + $1.length } == bytes.count)
        #expect(try store.missingChunks(s.id, bases: ["/big.bin"], of: pieces.map(\.id)).isEmpty)

        // Edit 100 bytes in the middle and insert 10 near the start.
        for i in 0..<100 { bytes[2_000_000 + i] ^= 0xFF }
        bytes.insert(contentsOf: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], at: 1000)
        let sent = try Self.upload(store, s.id, "/big.bin", bytes, in: dir)
        #expect(sent > 0 && sent <= 4 * ContentDefinedChunker.standard.maxSize, "sent \(sent) of \(bytes.count) bytes")
        #expect(try store.readFile(s.id, path: "/big.bin") == bytes)
        // The same content as the bytes uploaded whole: the same content ID (ETag).
        try store.writeFile(s.id, path: "/whole.bin", data: bytes)
        let chunked = try store.stat(s.id, path: "/big.bin").contentID
        let whole = try store.stat(s.id, path: "/whole.bin").contentID
        #expect(chunked != nil && chunked == whole)
        #expect(try store.verify().problems.isEmpty)

        // Truncation to a tiny file, growth from nothing, and an empty file keep the whole-upload shape too.
        for (name, content) in [("tiny", Array(bytes[0..<700])), ("empty", []), ("one", Array(bytes[0..<3000]))] {
            try Self.upload(store, s.id, "/\(name)", content, in: dir)
            try store.writeFile(s.id, path: "/\(name)-whole", data: content)
            #expect(try store.readFile(s.id, path: "/\(name)") == content)
            let (a, b) = (try store.stat(s.id, path: "/\(name)").contentID, try store.stat(s.id, path: "/\(name)-whole").contentID)
            #expect(a == b, "\(name)")
        }
    }

    @Test func badChunksAreRefusedAndTheFileIsUnchanged() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"))
        let s = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 8)
        let original = rng.bytes(1 << 20)
        try store.writeFile(s.id, path: "/f", data: original)
        let pieces = try Self.pieces(original, in: dir)
        #expect(pieces.count > 4)
        let first = Array(original[0..<pieces[0].length])

        func expectRefused(_ code: AFSError.Code, _ what: String, _ body: (FileUpload) throws(AFSError) -> Void) throws {
            let upload = try store.beginUpload(s.id, path: "/f", bases: ["/f"])
            do {
                try body(upload)
                try upload.finish()
                Issue.record("\(what) was accepted")
            } catch {
                #expect(error.code == code, "\(what): \(error)")
                upload.cancel()
            }
        }
        // Bytes that do not hash to the ID they claim.
        try expectRefused(.invalidArgument, "wrong hash") { u throws(AFSError) in try u.appendChunk(first, id: pieces[1].id) }
        // Chunks cut somewhere the chunker does not cut: the file would get another content ID.
        let half = Array(first[0..<first.count / 2])
        let rest = Array(first[(first.count / 2)...])
        try expectRefused(.invalidArgument, "odd cut") { u throws(AFSError) in
            try u.appendChunk(half, id: ContentHash.sha256(half))
            try u.appendChunk(rest, id: ContentHash.sha256(rest))
        }
        // A chunk the base does not hold (the client must send its bytes).
        let foreign = rng.bytes(5000)
        try expectRefused(.conflict, "unknown reference") { u throws(AFSError) in try u.appendReference(ContentHash.sha256(foreign), length: 5000) }
        try expectRefused(.conflict, "wrong length") { u throws(AFSError) in try u.appendReference(pieces[0].id, length: pieces[0].length + 1) }
        // The base's last chunk ends where the file ended, not at a cut: nothing may follow it.
        let last = pieces[pieces.count - 1]
        try expectRefused(.invalidArgument, "chunk after the base's tail") { u throws(AFSError) in
            try u.appendReference(last.id, length: last.length)
            try u.appendReference(pieces[0].id, length: pieces[0].length)
        }
        // Bytes and chunks do not mix.
        try expectRefused(.invalidArgument, "bytes then chunks") { u throws(AFSError) in
            try u.append([1, 2, 3])
            try u.appendReference(pieces[0].id, length: pieces[0].length)
        }
        #expect(try store.readFile(s.id, path: "/f") == original, "refused uploads change nothing")
        #expect(try store.verify().problems.isEmpty)
    }

    /// Which chunks the server has is answered only for the named base files of the session, so
    /// a client learns nothing about other sessions' (or tenants') content.
    @Test func missingChunksAnswersOnlyForTheBase() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"))
        let a = try store.createSession(from: .blank)
        let b = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 9)
        let secret = rng.bytes(512 << 10)
        try store.writeFile(b.id, path: "/secret", data: secret)
        try store.writeFile(a.id, path: "/mine", data: rng.bytes(512 << 10))
        let ids = try Self.pieces(secret, in: dir).map(\.id)
        #expect(try store.missingChunks(a.id, bases: ["/mine"], of: ids).count == ids.count)
        #expect(try store.missingChunks(a.id, bases: ["/secret"], of: ids).count == ids.count, "a path of another session")
        #expect(try store.missingChunks(b.id, bases: ["/secret"], of: ids).isEmpty)
        // And references to them are refused in session a.
        let upload = try store.beginUpload(a.id, path: "/copy", bases: ["/mine"])
        #expect(throws: AFSError.self) { try upload.appendReference(ids[0], length: 1) }
    }

    /// The base's chunks stay while an upload that may reference them is open, even if the base
    /// is replaced and GC runs in between.
    @Test func gcKeepsTheBaseOfAnOpenUpload() throws {
        let dir = TemporaryDirectory()
        let store = try AetherStore.open(at: dir.sub("store"), options: smallStoreOptions())
        let s = try store.createSession(from: .blank)
        var rng = SeededRandom(seed: 10)
        let original = rng.bytes(2 << 20)
        try store.writeFile(s.id, path: "/f", data: original)
        let pieces = try Self.pieces(original, in: dir)
        let upload = try store.beginUpload(s.id, path: "/f", bases: ["/f"])
        try store.writeFile(s.id, path: "/f", data: rng.bytes(2 << 20))
        _ = try store.collectGarbage()
        _ = try store.collectGarbage()
        for piece in pieces { try upload.appendReference(piece.id, length: piece.length) }
        try upload.finish()
        #expect(try store.readFile(s.id, path: "/f") == original)
        #expect(try store.verify().problems.isEmpty)
    }

    @Test func decoderReadsRecordsSplitAnywhere() throws {
        var rng = SeededRandom(seed: 11)
        let data = rng.bytes(3000)
        let id = ContentHash.sha256(data)
        let other = ContentHash.sha256([1])
        let wire = ChunkedContent.reference(other, length: 70000 - 4464) + ChunkedContent.dataHeader(id, length: data.count) + data
            + ChunkedContent.reference(id, length: 1)
        for step in [1, 7, 37, 38, 4096] {
            var decoder = ChunkedContent.Decoder()
            var got: [ChunkedContent.Record] = []
            var i = 0
            while i < wire.count {
                decoder.push(wire[i..<min(wire.count, i + step)])
                while let r = try decoder.next() { got.append(r) }
                i += step
            }
            #expect(got == [.reference(other, length: 65536), .data(id, data), .reference(id, length: 1)], "step \(step)")
            #expect(!decoder.hasPartialRecord)
        }
        var truncated = ChunkedContent.Decoder()
        truncated.push(ChunkedContent.dataHeader(id, length: data.count) + data.dropLast())
        #expect(try truncated.next() == nil)
        #expect(truncated.hasPartialRecord)
        for bad in [ChunkedContent.reference(id, length: 0), ChunkedContent.reference(id, length: 65537), [7] + Array(ChunkedContent.reference(id, length: 1).dropFirst())] {
            var d = ChunkedContent.Decoder()
            d.push(bad)
            #expect(throws: AFSError.self) { try d.next() }
        }
    }
}

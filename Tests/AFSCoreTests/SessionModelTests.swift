import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

/// Model-based test: long random sequences of session operations against a dictionary model.
@Suite(.offCooperativePool) struct SessionModelTests {
    typealias Tree = [String: [UInt8]]  // path -> content; directories implicit

    static func dirs(_ t: Tree) -> Set<String> {
        var out: Set<String> = []
        for p in t.keys {
            var parts = p.split(separator: "/").map(String.init)
            parts.removeLast()
            while !parts.isEmpty {
                out.insert("/" + parts.joined(separator: "/"))
                parts.removeLast()
            }
        }
        return out
    }

    func check(_ store: AetherStore, _ id: String, _ model: Tree, _ context: String) throws {
        let manifest = try store.manifest(id)
        let files = Dictionary(uniqueKeysWithValues: manifest.map { ($0.path, $0) })
        #expect(Set(files.keys) == Set(model.keys), "\(context): paths differ")
        for (path, bytes) in model {
            let got = try store.readFile(id, path: path)
            #expect(got == bytes, "\(context): \(path) content differs")
            #expect(files[path]?.size == UInt64(bytes.count))
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomOperationsMatchTheModel(seed: UInt64) throws {
        let dir = TemporaryDirectory()
        var options = smallStoreOptions()
        options.foldThresholdEntries = 40  // fold often, so both paths (overlay and tree) are exercised
        options.journalInlineLimit = 4096
        var store = try AetherStore.open(at: dir.path, options: options)
        var rng = SeededRandom(seed: seed)
        var sessions: [String: Tree] = [:]
        var checkpoints: [(session: String, id: String, tree: Tree)] = []
        var commits: [(id: String, tree: Tree)] = []
        let first = try store.createSession(name: "s0", from: .blank)
        sessions[first.id] = [:]
        let names = ["a", "b", "c", "dir1", "dir2", "x.txt", "y.bin", "z"]

        func randomPath(_ depth: Int = 3) -> String {
            let d = Int(rng.next() % UInt64(depth)) + 1
            return "/" + (0..<d).map { _ in names[Int(rng.next() % UInt64(names.count))] }.joined(separator: "/")
        }
        func randomContent() -> [UInt8] {
            switch rng.next() % 10 {
            case 0: return []
            case 1: return rng.bytes(Int(rng.next() % 200_000) + 5000)  // multi-chunk
            default: return rng.bytes(Int(rng.next() % 3000))
            }
        }

        for step in 0..<700 {
            let ids = sessions.keys.sorted()
            let sid = ids[Int(rng.next() % UInt64(ids.count))]
            var model = sessions[sid]!
            let op = rng.next() % 100
            let ctx = "seed \(seed) step \(step) op \(op) session \(sid)"
            switch op {
            case 0..<35:  // write
                let p = randomPath()
                let data = randomContent()
                let isDirectory = (try? store.stat(sid, path: p))?.kind == .directory
                let blocked = model.keys.contains { p.hasPrefix($0 + "/") } || isDirectory
                if blocked {
                    #expect(throws: AFSError.self, "\(ctx)") { try store.writeFile(sid, path: p, data: data) }
                } else {
                    try store.writeFile(sid, path: p, data: data)
                    model[p] = data
                }
            case 35..<45:  // patch
                guard let p = model.keys.sorted().randomElement(using: &rng) else { continue }
                let old = model[p]!
                let offset = Int(rng.next() % UInt64(old.count + 10))
                let patch = rng.bytes(Int(rng.next() % 100) + 1)
                try store.patchFile(sid, path: p, offset: UInt64(offset), data: patch)
                var new = old
                if offset > new.count { new += [UInt8](repeating: 0, count: offset - new.count) }
                let end = min(new.count, offset + patch.count)
                new.replaceSubrange(offset..<end, with: patch)
                model[p] = new
            case 45..<50:  // truncate
                guard let p = model.keys.sorted().randomElement(using: &rng) else { continue }
                let size = Int(rng.next() % UInt64(model[p]!.count + 50))
                try store.truncateFile(sid, path: p, size: UInt64(size))
                var new = model[p]!
                if size < new.count { new.removeSubrange(size...) } else { new += [UInt8](repeating: 0, count: size - new.count) }
                model[p] = new
            case 50..<58:  // delete a file or (recursively) a directory
                if rng.next() % 3 == 0, let d = SessionModelTests.dirs(model).sorted().randomElement(using: &rng) {
                    try store.remove(sid, path: d, recursive: true)
                    model = model.filter { !$0.key.hasPrefix(d + "/") }
                } else if let p = model.keys.sorted().randomElement(using: &rng) {
                    try store.remove(sid, path: p)
                    model[p] = nil
                }
            case 58..<66:  // rename a file or a directory to a fresh top-level name
                let fresh = "/moved\(step)"
                if rng.next() % 2 == 0, let d = SessionModelTests.dirs(model).sorted().randomElement(using: &rng) {
                    try store.rename(sid, from: d, to: fresh)
                    var next: Tree = [:]
                    for (k, v) in model { next[k.hasPrefix(d + "/") ? fresh + k.dropFirst(d.count) : k] = v }
                    model = next
                } else if let p = model.keys.sorted().randomElement(using: &rng) {
                    try store.rename(sid, from: p, to: fresh)
                    model[fresh] = model.removeValue(forKey: p)
                }
            case 66..<74:  // fork
                if sessions.count < 8 {
                    let f = try store.fork(sid)
                    sessions[f.id] = model
                }
            case 74..<82:  // checkpoint
                let c = try store.checkpoint(sid)
                checkpoints.append((sid, c.id, model))
            case 82..<88:  // restore
                if let c = checkpoints.filter({ $0.session == sid }).randomElement(using: &rng) {
                    try store.restore(sid, checkpoint: c.id)
                    model = c.tree
                }
            case 88..<93:  // commit, then start a session from it
                let c = try store.commit(sid, message: "step \(step)", author: "model")
                commits.append((c.id, model))
                if sessions.count < 8 {
                    let s = try store.createSession(from: .commit(c.id))
                    sessions[s.id] = model
                }
            case 93..<96:  // reopen the store (journals replayed, overlays rebuilt)
                try store.close()
                store = try AetherStore.open(at: dir.path, options: options)
            default:  // diff against the session's parent model
                let other = ids[Int(rng.next() % UInt64(ids.count))]
                let d = try store.diff(.session(other), .session(sid))
                let om = sessions[other]!
                let expected = Set(model.keys.filter { om[$0] != model[$0] } + om.keys.filter { model[$0] == nil })
                let files = Set(d.map(\.path))
                #expect(expected.isSubset(of: files), "\(ctx): diff misses \(expected.subtracting(files).sorted())")
            }
            sessions[sid] = model
            if step % 50 == 49 {
                for (id, m) in sessions { try check(store, id, m, "\(ctx) full check") }
            }
        }
        for (id, m) in sessions { try check(store, id, m, "final") }
        for c in checkpoints.suffix(5) {
            let s = try store.createSession(from: .checkpoint(c.id))
            try check(store, s.id, c.tree, "checkpoint \(c.id)")
        }
        #expect(try store.verify().problems.isEmpty)
        try store.close()
    }
}

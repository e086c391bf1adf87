import Foundation
import AFSTestSupport
import Testing
@testable import AFSCore

@Suite(.offCooperativePool) struct ProllyMapTests {
    func key(_ i: UInt64) -> [UInt8] { Array(String(format: "key-%08llu", i).utf8) }

    @Test func randomEditsMatchAModelAndShapeIsCanonical() throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path)
        let store = try NodeStore(log: log, cacheCapacity: 256)
        var rng = SeededRandom(seed: 11)
        var model: [[UInt8]: [UInt8]] = [:]
        var root = store.emptyRoot
        for round in 0..<60 {
            var edits: [[UInt8]: ProllyMap.Edit] = [:]
            let n = round < 5 ? 2000 : Int(rng.next() % 50) + 1
            for _ in 0..<n {
                let k = key(rng.next() % 5000)
                if rng.next() % 4 == 0 { edits[k] = .delete } else { edits[k] = .put(rng.bytes(Int(rng.next() % 40))) }
            }
            let sorted = edits.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { (key: $0.key, edit: $0.value) }
            let old = root
            root = try ProllyMap.apply(root, edits: sorted, in: store)
            for (k, e) in sorted {
                if case .put(let v) = e { model[k] = v } else { model[k] = nil }
            }
            let entries = try ProllyMap.entries(root, in: store)
            #expect(entries.count == model.count)
            #expect(try ProllyMap.count(root, in: store) == UInt64(model.count))
            for (k, v) in entries { #expect(model[k] == v) }
            // Diff against the previous version equals the edits that changed something.
            let diff = try ProllyMap.diff(old, root, in: store)
            let before = Dictionary(uniqueKeysWithValues: try ProllyMap.entries(old, in: store).map { ($0.key, $0.value) })
            let expected = sorted.filter { before[$0.key] != model[$0.key] }.map(\.key)
            #expect(diff.map(\.key) == expected)
        }
        // History independence: building the final contents in one batch gives the same root.
        let batch = model.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { (key: $0.key, edit: ProllyMap.Edit.put($0.value)) }
        let rebuilt = try ProllyMap.apply(store.emptyRoot, edits: batch, in: store)
        #expect(rebuilt == root)
        for (k, v) in model.prefix(100) { #expect(try ProllyMap.get(root, key: k, in: store) == v) }
        #expect(try ProllyMap.get(root, key: Array("absent".utf8), in: store) == nil)
    }

    @Test func hostileKeysCannotMakeHugeNodes() throws {
        let dir = TemporaryDirectory()
        let log = try ChunkLog.open(directory: dir.path)
        let store = try NodeStore(log: log)
        // Keys chosen so none is a hash boundary: the size limits must still cut nodes.
        var keys: [[UInt8]] = []
        var i: UInt64 = 0
        while keys.count < 5000 {
            let k = key(i)
            if !ProllyMap.isBoundary(k, level: 0) { keys.append(k) }
            i += 1
        }
        let root = try ProllyMap.apply(store.emptyRoot, edits: keys.map { (key: $0, edit: .put([1, 2, 3])) }, in: store)
        let top = try store.node(root)
        #expect(top.level >= 1)
        #expect(try ProllyMap.count(root, in: store) == 5000)
    }
}

// Workloads shared by the ordo-one benchmarks and the profiling executable: scratch directories,
// seeded synthetic trees, and incompressible / compressible bytes. Nothing here is timed.

import AFSCore
import Foundation

/// A small, fast, seeded generator (xorshift64*), so every run builds the same bytes.
public struct SeededBytes {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// `count` bytes that do not compress (lz4 leaves them as they are).
    public mutating func incompressible(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= count {
                raw.storeBytes(of: next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                raw[i] = UInt8(truncatingIfNeeded: next())
                i += 1
            }
        }
        return out
    }

    private static let words = [
        "let", "var", "func", "return", "if", "else", "guard", "for", "in", "while", "struct", "class",
        "public", "private", "static", "import", "self", "try", "throws", "case", "switch", "default",
        "session", "store", "chunk", "tree", "node", "fork", "commit", "path", "value", "count", "index",
    ]

    /// `count` bytes of source-like text (lz4 compresses it several times).
    public mutating func text(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count + 16)
        var column = 0
        while out.count < count {
            let w = SeededBytes.words[Int(next() % UInt64(SeededBytes.words.count))]
            out.append(contentsOf: w.utf8)
            column += w.utf8.count + 1
            if column > 60 || next() % 9 == 0 {
                out.append(0x0A)
                column = 0
            } else {
                out.append(0x20)
            }
        }
        return Array(out.prefix(count))
    }
}

public enum Fixtures {
    /// A fresh directory under `$AFS_BENCH_WORK` (default /var/tmp: a real disk, not tmpfs).
    public static func scratch(_ tag: String) -> String {
        let parent = ProcessInfo.processInfo.environment["AFS_BENCH_WORK"] ?? "/var/tmp"
        let dir = "\(parent)/afs-inproc-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    public static func remove(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }

    /// `files` files of 200–4000 bytes of source-like text, 50 per directory, seeded.
    /// Returns the total number of bytes written.
    @discardableResult
    public static func writeSyntheticTree(at root: String, files: Int, seed: UInt64) -> Int {
        var rng = SeededBytes(seed: seed)
        var total = 0
        for i in 0..<files {
            let dir = "\(root)/d\(i / 2500)/d\(i / 50)"
            if i % 50 == 0 { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            let size = 200 + Int(rng.next() % 3801)
            let bytes = rng.text(size)
            let written = FileManager.default.createFile(atPath: "\(dir)/f\(i).swift", contents: Data(bytes))
            precondition(written, "cannot write in \(dir)")
            total += size
        }
        return total
    }

    /// Relative paths of the tree `writeSyntheticTree` makes, in the same order.
    public static func syntheticPath(_ i: Int) -> String { "/d\(i / 2500)/d\(i / 50)/f\(i).swift" }

    /// Half incompressible, half compressible, interleaved in 1 MiB runs: `mebibytes` MiB in all.
    public static func mixedBytes(mebibytes: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededBytes(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(mebibytes << 20)
        for i in 0..<mebibytes {
            out.append(contentsOf: i % 2 == 0 ? rng.incompressible(1 << 20) : rng.text(1 << 20))
        }
        return out
    }

    /// Writes `mebibytes` MiB of mixed bytes as files of `fileKiB` KiB under `root` (for directory import).
    public static func writeMixedTree(at root: String, mebibytes: Int, fileKiB: Int, seed: UInt64) {
        let bytes = mixedBytes(mebibytes: mebibytes, seed: seed)
        let per = fileKiB << 10
        var offset = 0
        var i = 0
        while offset < bytes.count {
            let dir = "\(root)/m\(i / 50)"
            if i % 50 == 0 { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            let end = min(offset + per, bytes.count)
            let written = FileManager.default.createFile(atPath: "\(dir)/blob\(i).bin", contents: Data(bytes[offset..<end]))
            precondition(written, "cannot write in \(dir)")
            offset = end
            i += 1
        }
    }

    /// A store in a fresh scratch directory with one session imported from a synthetic tree of `files` files.
    public static func storeWithTree(files: Int, seed: UInt64 = 7) throws -> (store: AetherStore, session: String, dir: String) {
        let dir = scratch("tree\(files)")
        let tree = dir + "/tree"
        writeSyntheticTree(at: tree, files: files, seed: seed)
        let store = try AetherStore.open(at: dir + "/store")
        let info = try store.createSession(from: .directory(tree))
        return (store, info.id, dir)
    }
}

/// Monotonic nanoseconds.
public func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

// The trees the figures run on: synthetic trees (only for scaling curves) and checkouts of real
// repositories from the machine's Swift package mirror (or any directory given with --repo).

import AFSSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Synthetic trees

enum Vocabulary {
    static let words: [[UInt8]] = [
        "let", "var", "func", "return", "if", "else", "for", "in", "while", "struct", "class", "enum",
        "import", "public", "private", "static", "self", "true", "false", "nil", "guard", "throw", "try",
        "buffer", "index", "count", "value", "result", "error", "session", "chunk", "tree", "node",
        "path", "file", "data", "offset", "length", "segment", "record", "hash", "digest", "commit",
        "branch", "merge", "fork", "write", "read", "close", "open", "sync", "flush", "journal",
        "the", "a", "of", "to", "and", "is", "that", "this", "with", "from", "when", "each", "every",
        "{", "}", "(", ")", "=", "==", "+", "-", "*", "//", "->", ":", ",", "0", "1", "42", "1024",
    ].map { Array($0.utf8) }
}

/// Path of the first file of a synthetic tree (exists in every tree of ≥ 1 file).
let syntheticFirstFile = "/g000/d00000/f000000.txt"

/// `count` files of 200–4000 bytes of pseudo-random text, 50 files per directory
/// (`gNNN/dNNNNN/fNNNNNN.txt`, 40 directories per group). Returns the total bytes written.
func makeSyntheticTree(at root: String, files count: Int, seed: UInt64) throws -> Int64 {
    let fm = FileManager.default
    try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    var rng = SplitMix64(seed: seed)
    let words = Vocabulary.words
    var total: Int64 = 0
    var buf: [UInt8] = []
    buf.reserveCapacity(4200)
    var dir = root
    for i in 0..<count {
        if i % 50 == 0 {
            let d = i / 50
            dir = root + "/g" + pad(d / 40, 3) + "/d" + pad(d, 5)
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if i > 0 && i % 20_000 == 0 { log("  … \(i) files written") }
        }
        let size = 200 + rng.uniform(3801)
        buf.removeAll(keepingCapacity: true)
        buf.append(contentsOf: Array("// synthetic file \(i) seed \(seed)\n".utf8))
        var column = 0
        while buf.count < size {
            let w = words[rng.uniform(words.count)]
            if column + w.count + 1 > 76 {
                buf.append(10)
                column = 0
            } else if column > 0 {
                buf.append(32)
                column += 1
            }
            buf.append(contentsOf: w)
            column += w.count
        }
        if buf.count > size { buf.removeLast(buf.count - size) }
        buf[buf.count - 1] = 10
        let path = dir + "/f" + pad(i, 6) + ".txt"
        guard writeWhole(path, buf) else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
        total += Int64(buf.count)
    }
    return total
}

func syntheticSeed(_ files: Int) -> UInt64 { 0xAE7E_5000 &+ UInt64(files) }

// MARK: - Inventory of a tree on disk

struct TreeFile {
    /// Session-style path: "/" + path relative to the tree's root.
    var path: String
    var size: Int64
}

struct TreeInventory {
    var root: String
    /// Regular files, sorted by path.
    var files: [TreeFile]
    var directories: Int
    var symlinks: Int
    var bytes: Int64 { files.reduce(0) { $0 + $1.size } }
}

/// Every regular file under `root` (lstat: symlinks are counted, not followed). `.git`
/// directories are skipped when `skipGit`.
func inventory(of root: String, skipGit: Bool) throws -> TreeInventory {
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: root) else { throw BenchError("cannot list \(root)") }
    var files: [TreeFile] = []
    var dirs = 0
    var links = 0
    while let rel = e.nextObject() as? String {
        if skipGit && (rel == ".git" || rel.hasSuffix("/.git")) {
            e.skipDescendants()
            continue
        }
        var st = stat()
        guard lstat(root + "/" + rel, &st) == 0 else { continue }
        switch st.st_mode & S_IFMT {
        case S_IFREG: files.append(TreeFile(path: "/" + rel, size: Int64(st.st_size)))
        case S_IFDIR: dirs += 1
        case S_IFLNK: links += 1
        default: break
        }
    }
    files.sort { $0.path < $1.path }
    return TreeInventory(root: root, files: files, directories: dirs, symlinks: links)
}

// MARK: - Real repositories

/// A checkout used as a workload.
struct RealTree {
    /// Short name ("swift-syntax").
    var name: String
    /// Where the checkout is.
    var path: String
    /// How it was obtained (for the report).
    var source: String
}

/// Default real workloads: a small repository and swift-syntax, from the package mirror.
func defaultMirrorRepos(quick: Bool) -> [String] {
    quick ? ["apple/swift-argument-parser"] : ["apple/swift-argument-parser", "swiftlang/swift-syntax"]
}

/// `git clone --quiet MIRROR/OWNER/NAME.git WORK/real/NAME` (a full checkout with its .git).
func cloneMirror(_ ownerName: String, mirror: String, work: String, tools: Tools) -> Result<RealTree, BenchError> {
    let bare = mirror + "/" + ownerName + ".git"
    let name = String(ownerName.split(separator: "/").last ?? Substring(ownerName))
    guard tools.git else { return .failure(BenchError("git not found")) }
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: bare, isDirectory: &isDir), isDir.boolValue else {
        return .failure(BenchError("\(bare) does not exist"))
    }
    let dst = work + "/real/" + name
    removeTree(dst)
    do { try makeDirectory(work + "/real") } catch { return .failure(BenchError("mkdir: \(error)")) }
    log("cloning \(bare)")
    let r = runTool(["git", "clone", "--quiet", bare, dst])
    guard r.ok else {
        removeTree(dst)
        return .failure(BenchError("git clone \(bare) failed: \(r.errorLine)"))
    }
    return .success(RealTree(name: name, path: dst, source: "`git clone --quiet \(bare)`"))
}

/// A copy of `tree` without `.git` (for throughput: the files a user works on).
func plainCopy(of tree: RealTree, to dst: String, tools: Tools) -> Result<RealTree, BenchError> {
    guard tools.cp else { return .failure(BenchError("cp not found")) }
    removeTree(dst)
    let r = runTool(["cp", "-a", tree.path, dst])
    guard r.ok else { return .failure(BenchError("cp -a failed: \(r.errorLine)")) }
    removeTree(dst + "/.git")
    return .success(RealTree(name: tree.name, path: dst, source: tree.source + " without `.git`"))
}

// MARK: - Edits (the same on the store and on every baseline)

/// `k` distinct indices in 0..<n, in the order drawn.
func choose(_ k: Int, of n: Int, rng: inout SplitMix64) -> [Int] {
    let k = min(k, n)
    var seen = Set<Int>()
    var out: [Int] = []
    while out.count < k {
        let i = rng.uniform(n)
        if seen.insert(i).inserted { out.append(i) }
    }
    return out
}

struct Edit {
    /// The whole new content of the file.
    var bytes: [UInt8]
    /// Bytes that differ from the old content (replaced or appended).
    var changed: Int
}

/// A small edit: replace 64 bytes in the middle, or append a line.
func applyEdit(_ old: [UInt8], rng: inout SplitMix64, tag: Int) -> Edit {
    var b = old
    if b.count >= 256 && rng.next() % 2 == 0 {
        let start = b.count / 2 - 32
        for i in 0..<64 { b[start + i] = UInt8(97 + rng.uniform(26)) }
        return Edit(bytes: b, changed: 64)
    }
    let before = b.count
    if let last = b.last, last != 10 { b.append(10) }
    b.append(contentsOf: Array("// afs-bench edit \(tag) \(rng.next() % 1_000_000)\n".utf8))
    return Edit(bytes: b, changed: b.count - before)
}

func editSeed(_ fork: Int) -> UInt64 { 0xDE17_A000 &+ UInt64(fork) }

/// The files a fork rewrites: 1 % of `candidates` (at least one), seeded by the fork number.
func editPlan(fork: Int, candidates: Int) -> (indices: [Int], rng: SplitMix64) {
    var rng = SplitMix64(seed: editSeed(fork))
    let idx = choose(max(1, candidates / 100), of: candidates, rng: &rng)
    return (idx, rng)
}

/// Rewrites files of a checkout the way an agent's edit tool does: read, write a temporary file,
/// rename over the old one. Returns (bytes rewritten, bytes changed).
func rewriteOnDisk(root: String, fork: Int, candidates: [TreeFile]) throws -> (rewritten: Int64, changed: Int64, files: Int) {
    let plan = editPlan(fork: fork, candidates: candidates.count)
    var rng = plan.rng
    var rewritten: Int64 = 0
    var changed: Int64 = 0
    for i in plan.indices {
        let file = root + candidates[i].path
        guard let data = FileManager.default.contents(atPath: file) else { throw BenchError("cannot read \(file)") }
        let e = applyEdit([UInt8](data), rng: &rng, tag: fork)
        try Data(e.bytes).write(to: URL(fileURLWithPath: file), options: .atomic)
        rewritten += Int64(e.bytes.count)
        changed += Int64(e.changed)
    }
    return (rewritten, changed, plan.indices.count)
}

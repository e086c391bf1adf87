// In-process figures for AFSCore, measured with ordo-one/benchmark. Everything that builds a
// workload (trees on disk, imports, the writes before a checkpoint) runs outside the measured region:
// in `setup`, or before `startMeasurement()`.
//
//   cd Benchmarks/InProcess && swift package --allow-writing-to-package-directory benchmark
//
// Scratch stores live under $AFS_BENCH_WORK (default /var/tmp, a real disk) and are removed in teardown.

import AFSCore
import Benchmark
import BenchSupport
import Foundation

/// What a benchmark's setup leaves for its body and its teardown.
final class Fixture {
    var store: AetherStore?
    var session = ""
    var other = ""
    var dirs: [String] = []
    var bytes: [UInt8] = []
    var path = ""
    var counter = 0

    func tearDown() {
        try? store?.close()
        store = nil
        dirs.forEach(Fixtures.remove)
        dirs = []
        bytes = []
    }
}

let mbPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let baseMetrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .throughput]

func config(iterations: Int, seconds: Int, warmup: Int = 3, extra: [BenchmarkMetric] = []) -> Benchmark.Configuration {
    .init(metrics: baseMetrics + extra, warmupIterations: warmup, maxDuration: .seconds(seconds), maxIterations: iterations)
}

func recordRate(_ benchmark: Benchmark, bytes: Int, since start: UInt64) {
    let nanos = max(nowNanos() - start, 1)
    benchmark.measurement(mbPerSecond, Int(Double(bytes) / Double(nanos) * 1000))  // bytes/ns × 1000 = MB/s
}

let benchmarks: @Sendable () -> Void = {
    // MARK: fork: one catalog transaction, whatever the tree's size
    for files in [1_000, 10_000] {
        let f = Fixture()
        Benchmark(
            "fork (session of \(files / 1000)k files)",
            configuration: config(iterations: 1_000, seconds: 8),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    blackHole(try! f.store!.fork(f.session))
                }
            },
            setup: {
                let made = try Fixtures.storeWithTree(files: files)
                f.store = made.store
                f.session = made.session
                f.dirs = [made.dir]
            },
            teardown: { f.tearDown() }
        )
    }

    // MARK: durable small write: journal append + fdatasync
    do {
        let f = Fixture()
        Benchmark(
            "writeFile 4 KiB, durable, new path",
            configuration: config(iterations: 2_000, seconds: 6),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    f.counter += 1
                    // A distinct file each time: the first 8 bytes carry the counter.
                    withUnsafeBytes(of: UInt64(f.counter)) { c in
                        for i in 0..<8 { f.bytes[i] = c[i] }
                    }
                    try! f.store!.writeFile(f.session, path: "/w/\(f.counter).bin", data: f.bytes)
                }
            },
            setup: {
                let dir = Fixtures.scratch("write")
                let store = try AetherStore.open(at: dir + "/store")
                f.store = store
                f.session = try store.createSession(from: .blank).id
                try store.makeDirectory(f.session, path: "/w")
                var rng = SeededBytes(seed: 11)
                f.bytes = rng.incompressible(4096)
                f.dirs = [dir]
            },
            teardown: { f.tearDown() }
        )
    }

    // MARK: warm read of one 1 MiB file
    do {
        let f = Fixture()
        Benchmark(
            "readFile 1 MiB, warm",
            configuration: config(iterations: 5_000, seconds: 5, extra: [mbPerSecond]),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    let start = nowNanos()
                    let data = try! f.store!.readFile(f.session, path: f.path)
                    recordRate(benchmark, bytes: data.count, since: start)
                    blackHole(data)
                }
            },
            setup: {
                let dir = Fixtures.scratch("read")
                let store = try AetherStore.open(at: dir + "/store")
                f.store = store
                f.session = try store.createSession(from: .blank).id
                f.path = "/big.bin"
                // Half incompressible, half text, like the ingest figure.
                var rng = SeededBytes(seed: 13)
                let data = rng.incompressible(512 << 10) + rng.text(512 << 10)
                try store.writeFile(f.session, path: f.path, data: data)
                _ = try store.checkpoint(f.session)  // fold, so the read goes through the tree and the chunk log
                let back = try store.readFile(f.session, path: f.path)
                precondition(back == data, "read back differs")
                f.dirs = [dir]
            },
            teardown: { f.tearDown() }
        )
    }

    // MARK: checkpoint after 100 small writes (the writes are not measured)
    do {
        let f = Fixture()
        Benchmark(
            "checkpoint after 100 small writes",
            configuration: config(iterations: 60, seconds: 10, warmup: 1),
            closure: { benchmark in
                f.counter += 1
                for i in 0..<100 {
                    let p = Fixtures.syntheticPath((f.counter * 37 + i * 97) % 10_000)
                    var data = f.bytes
                    data.append(contentsOf: Array("// edit \(f.counter) \(i)\n".utf8))
                    try! f.store!.writeFile(f.session, path: p, data: data)
                }
                benchmark.startMeasurement()
                blackHole(try! f.store!.checkpoint(f.session))
            },
            setup: {
                let made = try Fixtures.storeWithTree(files: 10_000)
                f.store = made.store
                f.session = made.session
                f.dirs = [made.dir]
                var rng = SeededBytes(seed: 17)
                f.bytes = rng.text(1500)
            },
            teardown: { f.tearDown() }
        )
    }

    // MARK: diff of two forks of a 10k-file session, 1 % of files rewritten in one
    do {
        let f = Fixture()
        Benchmark(
            "diff two forks, 10k files, 1 % differ",
            configuration: config(iterations: 2_000, seconds: 5),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    blackHole(try! f.store!.diff(.session(f.session), .session(f.other)))
                }
            },
            setup: {
                let made = try Fixtures.storeWithTree(files: 10_000)
                let store = made.store
                f.store = store
                f.dirs = [made.dir]
                f.session = try store.fork(made.session).id
                f.other = try store.fork(made.session).id
                var rng = SeededBytes(seed: 19)
                for i in stride(from: 0, to: 10_000, by: 100) {  // 100 files = 1 %
                    let p = Fixtures.syntheticPath(i)
                    var data = try store.readFile(f.other, path: p)
                    data.append(contentsOf: rng.text(64))
                    try store.writeFile(f.other, path: p, data: data)
                }
                _ = try store.checkpoint(f.other)
                let changes = try store.diff(.session(f.session), .session(f.other))
                precondition(changes.count == 100, "expected 100 changed paths, got \(changes.count)")
            },
            teardown: { f.tearDown() }
        )
    }

    // MARK: ingest 64 MiB (half incompressible, half text) into a fresh store each time
    do {
        let f = Fixture()
        Benchmark(
            "ingest 64 MiB, writeFile of one file",
            configuration: config(iterations: 10, seconds: 20, warmup: 1, extra: [mbPerSecond]),
            closure: { benchmark in
                let dir = Fixtures.scratch("ingest-write")
                let store = try! AetherStore.open(at: dir + "/store")
                let session = try! store.createSession(from: .blank).id
                benchmark.startMeasurement()
                let start = nowNanos()
                try! store.writeFile(session, path: "/mixed.bin", data: f.bytes)
                recordRate(benchmark, bytes: f.bytes.count, since: start)
                benchmark.stopMeasurement()
                try? store.close()
                Fixtures.remove(dir)
            },
            setup: { f.bytes = Fixtures.mixedBytes(mebibytes: 64, seed: 23) },
            teardown: { f.tearDown() }
        )
    }
    do {
        let f = Fixture()
        Benchmark(
            "ingest 64 MiB, import of 256 files of 256 KiB",
            configuration: config(iterations: 10, seconds: 20, warmup: 1, extra: [mbPerSecond]),
            closure: { benchmark in
                let dir = Fixtures.scratch("ingest-import")
                let store = try! AetherStore.open(at: dir + "/store")
                benchmark.startMeasurement()
                let start = nowNanos()
                blackHole(try! store.createSession(from: .directory(f.path)))
                recordRate(benchmark, bytes: 64 << 20, since: start)
                benchmark.stopMeasurement()
                try? store.close()
                Fixtures.remove(dir)
            },
            setup: {
                let dir = Fixtures.scratch("ingest-tree")
                f.path = dir + "/tree"
                Fixtures.writeMixedTree(at: f.path, mebibytes: 64, fileKiB: 256, seed: 29)
                f.dirs = [dir]
            },
            teardown: { f.tearDown() }
        )
    }
}

import AFSFuzz
import Foundation
import Testing

/// The fuzz targets' short form, run with every test run: each target over its committed seeds
/// (`Fuzz/corpus/NAME`, which include every input that once crashed one) and a few thousand
/// deterministic mutations of them. A crash or trap ends the test process, so it fails the run.
/// The long form is libFuzzer, with coverage guidance and AddressSanitizer: `scripts/fuzz.sh`.
@Suite struct FuzzTargetTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus").path

    static func seeds(_ target: FuzzTarget) throws -> [[UInt8]] {
        let directory = corpus + "/" + target.name
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { name in
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
        }
    }

    @Test func everyTargetHasSeeds() throws {
        #expect(FuzzTarget.all.count == Set(FuzzTarget.all.map(\.name)).count)
        for target in FuzzTarget.all {
            #expect(try Self.seeds(target).count >= 2, "\(target.name) has too few seeds in Fuzz/corpus")
        }
    }

    @Test(arguments: FuzzTarget.all.map(\.name)) func seedsAndTheirMutationsDecodeWithoutCrashing(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let seeds = try Self.seeds(target)
        for seed in seeds { target.run(seed) }
        var random = SeededRandom(seed: 0xAE7E_4F5 &+ UInt64(name.utf8.count))
        for _ in 0..<3_000 {
            let input = Self.mutate(seeds[Int(random.next() % UInt64(seeds.count))], seeds, &random)
            if let keep = ProcessInfo.processInfo.environment["AFS_FUZZ_LAST_INPUT"] { try Data(input).write(to: URL(fileURLWithPath: keep + "." + name)) }
            target.run(input)
        }
    }

    /// libFuzzer's simplest moves: flip, overwrite with an interesting byte, insert, delete,
    /// truncate, splice with another seed.
    static func mutate(_ input: [UInt8], _ seeds: [[UInt8]], _ random: inout SeededRandom) -> [UInt8] {
        var out = input
        for _ in 0..<(1 + Int(random.next() % 4)) {
            let position = out.isEmpty ? 0 : Int(random.next() % UInt64(out.count))
            switch random.next() % 6 {
            case 0 where !out.isEmpty: out[position] ^= UInt8(1 << (random.next() % 8))
            case 1 where !out.isEmpty: out[position] = [0, 0xFF, 0x7F, 0x80, 0x30, 0x2F, 0x22, 0x5B][Int(random.next() % 8)]
            case 2: out.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
            case 3 where !out.isEmpty: out.remove(at: position)
            case 4: out = Array(out.prefix(position))
            default:
                let other = seeds[Int(random.next() % UInt64(seeds.count))]
                out = Array(out.prefix(position)) + Array(other.dropFirst(other.isEmpty ? 0 : Int(random.next() % UInt64(other.count))))
            }
        }
        return out
    }
}

import Foundation
@testable import AFSCore

/// A temporary directory removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = "afs") {
        // /var/tmp: a real disk file system (fdatasync, fallocate) rather than tmpfs.
        let base = FileManager.default.fileExists(atPath: "/var/tmp") ? "/var/tmp" : NSTemporaryDirectory()
        path = "\(base)/\(label)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// A small deterministic PRNG (xorshift64*) so failing seeds replay exactly.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

func smallStoreOptions() -> AetherStore.Options {
    var o = AetherStore.Options()
    o.segmentSize = 1 << 20
    return o
}

@discardableResult
func shell(_ args: [String], cwd: String? = nil) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw AFSError(.externalTool, "\(args.joined(separator: " ")) exited \(p.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}

/// The directory holding the built products (the test bundle sits beside `aether`).
func productsDirectory() -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    var dir = (exe as NSString).deletingLastPathComponent
    while !dir.isEmpty && dir != "/" {
        if FileManager.default.isExecutableFile(atPath: dir + "/aether") { return dir }
        dir = (dir as NSString).deletingLastPathComponent
    }
    return (exe as NSString).deletingLastPathComponent
}

import AFSConfig
import AFSCore
import AFSMountControl
import AFSObjectStore
import AFSTar
import AFSWire
import Foundation

/// A decoder of hostile bytes, run by libFuzzer (`scripts/fuzz.sh`, the `afs-fuzz` executable) and,
/// over its committed seeds and their mutations, by the test suite on every run.
///
/// Each target feeds one input to one decoder the way the system meets such bytes: from disk
/// (records, segments, the index checkpoint, tree nodes, journals, the config file), from object
/// storage (pack indexes), from the network (tar uploads, chunked uploads, JSON bodies, session
/// paths) or from a local socket (the mount's control requests). A target returns whatever
/// the input is; a crash, a trap or a hang is the bug the fuzzer looks for.
public struct FuzzTarget: Sendable {
    /// The name `scripts/fuzz.sh` and the corpus directory (`Fuzz/corpus/NAME`) use.
    public let name: String
    /// What it decodes.
    public let summary: String
    let body: @Sendable ([UInt8]) -> Void

    /// Runs one input.
    public func run(_ input: [UInt8]) { body(input) }

    /// Every target.
    public static let all: [FuzzTarget] = [
        FuzzTarget(name: "record", summary: "chunk-log records: header, checksum, decompression, identity", body: DecoderEntryPoints.record),
        FuzzTarget(name: "record-payload", summary: "record headers and LZ4 payloads past the checksum", body: DecoderEntryPoints.recordPayload),
        FuzzTarget(name: "tree", summary: "tree nodes, entry attributes and chunk lists", body: DecoderEntryPoints.treeRecords),
        FuzzTarget(name: "journal", summary: "session journal records, as replay reads them", body: DecoderEntryPoints.journal),
        FuzzTarget(name: "session-path", summary: "session paths from clients", body: DecoderEntryPoints.sessionPath),
        FuzzTarget(name: "tar", summary: "tar archives (ustar, pax, GNU) as uploads stream them", body: FuzzTarget.tar),
        FuzzTarget(name: "config", summary: "the TOML config file", body: { _ = try? ConfigFile(text: String(decoding: $0, as: UTF8.self)) }),
        FuzzTarget(name: "control", summary: "the mount's control-socket requests", body: { _ = try? JSONDecoder().decode(ControlRequest.self, from: Data($0)) }),
        FuzzTarget(name: "wire", summary: "JSON request bodies of the HTTP API", body: FuzzTarget.wire),
        FuzzTarget(name: "chunked-body", summary: "chunked-upload bodies (application/vnd.aetherfs.chunks) in uneven pieces", body: DecoderEntryPoints.chunkedBody),
        FuzzTarget(name: "index-checkpoint", summary: "the chunk index checkpoint file, sealed and as given", body: DecoderEntryPoints.indexCheckpoint),
        FuzzTarget(name: "segment", summary: "segment files as recovery and verify scan them", body: { DecoderEntryPoints.segment($0, scratch: FuzzTarget.scratch) }),
        FuzzTarget(name: "pack-index", summary: "S3 pack index objects, sealed and as given", body: PackIndex.fuzz),
    ]

    /// Where file-backed targets (segment) write their one input file.
    static let scratch = FileManager.default.temporaryDirectory.path

    /// The target called `name`.
    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    /// Reads every entry and its content, as an import does, within the archive's own limits.
    static func tar(_ bytes: [UInt8]) {
        var reader = TarReader(source: ArrayByteSource(bytes))
        for _ in 0..<10_000 {
            guard let entry = try? reader.next() else { return }
            if entry.size > 0 { _ = try? reader.readContent(maxLength: 1 << 20) }
        }
    }

    /// The request bodies with the richest shapes (nested sources, batches of changes).
    static func wire(_ bytes: [UInt8]) {
        let data = Data(bytes)
        let decoder = JSONDecoder()
        _ = try? decoder.decode(CreateSessionRequest.self, from: data)
        _ = try? decoder.decode(BatchRequest.self, from: data)
        _ = try? decoder.decode(JSONValue.self, from: data)
    }
}

import Testing

@testable import AFSCore

/// Records as read from disk or a bucket, hostile ones included: decompression never produces (or
/// allocates for) more than the record declares, and a declared size past the limit is refused
/// before anything is allocated.
@Suite struct RecordCodecTests {
    /// A record of `raw` bytes, compressed, whose header then claims `claimedRawLength`.
    func record(_ raw: [UInt8], claiming claimedRawLength: Int) -> (bytes: [UInt8], header: RecordCodec.Header) {
        var bytes = raw.withUnsafeBytes { RecordCodec.encode(type: .chunk, id: ContentHash.sha256($0), raw: $0) }
        #expect(bytes[5] & RecordCodec.flagLZ4 != 0, "the test needs a compressed record")
        withUnsafeBytes(of: UInt32(claimedRawLength).littleEndian) { bytes.replaceSubrange(12..<16, with: $0) }
        guard case .header(let header) = bytes.withUnsafeBytes({ RecordCodec.decodeHeader($0) }) else {
            Issue.record("the header did not parse")
            return (bytes, RecordCodec.Header(type: .chunk, flags: 0, storedLength: 0, rawLength: 0, id: ChunkID.digest(of: [])))
        }
        return (bytes, header)
    }

    @Test func decompressionStopsAtTheDeclaredLength() {
        // 8 MiB of zeros compress to ~32 KiB: a "bomb" whose header claims 4 KiB.
        let bomb = [UInt8](repeating: 0, count: 8 << 20)
        let (bytes, header) = record(bomb, claiming: 4096)
        #expect(header.rawLength == 4096)
        #expect(bytes.count < 64 << 10)
        #expect(bytes.withUnsafeBytes { RecordCodec.payload($0, header: header) } == nil, "more bytes than declared is corruption")
        // Claiming more than it holds is corruption too.
        let (short, shortHeader) = record([UInt8](repeating: 7, count: 100_000), claiming: 200_000)
        #expect(short.withUnsafeBytes { RecordCodec.payload($0, header: shortHeader) } == nil)
        // The honest record decodes.
        let (honest, honestHeader) = record([UInt8](repeating: 7, count: 100_000), claiming: 100_000)
        #expect(honest.withUnsafeBytes { RecordCodec.payload($0, header: honestHeader) } == [UInt8](repeating: 7, count: 100_000))
    }

    @Test func declaredLengthsPastTheLimitAreRefusedBeforeAllocating() {
        var bytes = [UInt8](repeating: 1, count: 1000).withUnsafeBytes { RecordCodec.encode(type: .chunk, id: ContentHash.sha256($0), raw: $0) }
        for field in [8, 12] {
            var hostile = bytes
            withUnsafeBytes(of: UInt32.max.littleEndian) { hostile.replaceSubrange(field..<field + 4, with: $0) }
            guard case .invalid(let why) = hostile.withUnsafeBytes({ RecordCodec.decodeHeader($0) }) else {
                Issue.record("a \(UInt32.max)-byte length at offset \(field) was accepted")
                continue
            }
            #expect(why.contains("length"))
        }
        withUnsafeBytes(of: UInt32(RecordCodec.maxPayload + 1).littleEndian) { bytes.replaceSubrange(12..<16, with: $0) }
        #expect({ if case .invalid = bytes.withUnsafeBytes({ RecordCodec.decodeHeader($0) }) { return true } else { return false } }())
        #expect(Compression.decompress(UnsafeRawBufferPointer(start: nil, count: 0), rawLength: -1) == nil)
    }
}

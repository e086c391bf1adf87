/// Where a record lives: segment number, byte offset, and enough of its header to read it in one call.
struct ChunkLocation: Sendable, Equatable {
    var segment: UInt32
    var offset: UInt32
    var storedLength: UInt32
    var rawLength: UInt32
    var type: RecordType

    var recordSize: Int { RecordCodec.totalSize(storedLength: Int(storedLength)) }
}

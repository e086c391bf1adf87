/// The ordered chunks of a multi-chunk file: (id, length) pairs, stored as one record.
struct ChunkList: Sendable, Equatable {
    struct Item: Sendable, Equatable {
        var id: ChunkID
        var length: Int
    }

    var items: [Item]

    var totalLength: Int { items.reduce(0) { $0 + $1.length } }

    var encoded: [UInt8] {
        var w = BinaryWriter(capacity: 8 + items.count * 36)
        w.u8(1)  // version
        w.varint(items.count)
        for item in items {
            w.id(item.id)
            w.varint(item.length)
        }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(BinaryReader.Malformed) -> ChunkList {
        var r = BinaryReader(bytes)
        guard try r.u8() == 1 else { throw BinaryReader.Malformed() }
        let count = try r.length(max: bytes.count)
        var items: [Item] = []
        items.reserveCapacity(count)
        for _ in 0..<count {
            let id = try r.id()
            items.append(Item(id: id, length: try r.length()))
        }
        return ChunkList(items: items)
    }
}

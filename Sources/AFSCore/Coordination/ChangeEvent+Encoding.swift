/// The one binary form of a changefeed event, used wherever a record carries one (a journal
/// record's event, FORMAT.md §12; the catalog's intent log, §16). The session is left out: each
/// record knows it. An absent size is written as 0 and a present one as size + 1; an absent
/// content ID or detail as the empty string.
extension ChangeEvent {
    func encode(into w: inout BinaryWriter) {
        w.varint(seq)
        w.string(kind.rawValue)
        w.string(path)
        w.varint(size.map { $0 + 1 } ?? 0)
        w.string(contentID ?? "")
        w.string(actor)
        w.svarint(time)
        w.string(detail ?? "")
    }

    static func decode(_ r: inout BinaryReader, session: String) throws(BinaryReader.Malformed) -> ChangeEvent {
        let seq = try r.varint()
        guard let kind = ChangeEvent.Kind(rawValue: try r.string()) else { throw BinaryReader.Malformed() }
        let path = try r.string()
        let size = try r.varint()
        let content = try r.string()
        let actor = try r.string()
        let time = try r.svarint()
        let detail = try r.string()
        return ChangeEvent(
            seq: seq, session: session, kind: kind, path: path, size: size == 0 ? nil : size - 1,
            contentID: content.isEmpty ? nil : content, actor: actor, time: time, detail: detail.isEmpty ? nil : detail)
    }
}

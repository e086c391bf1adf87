import AFSCore
import Foundation

extension RemoteStore {
    /// The URL path of a file route. The path is validated here exactly as the engine does, so a
    /// hostile path fails the same way on both transports and never reaches the wire as `..`.
    static func filePath(_ session: String, _ kind: String, _ path: String) throws(AFSError) -> String {
        sessionPath(session, "/\(kind)/" + (try SessionPath(path)).components.map(escape).joined(separator: "/"))
    }

    public func stat(_ session: String, path: String) throws(AFSError) -> FileStat {
        try json(FileStat.self, Call(.GET, try RemoteStore.filePath(session, "stat", path)))
    }

    public func readFile(_ session: String, path: String, offset: UInt64, length: UInt64?) throws(AFSError) -> [UInt8] {
        var headers: [(String, String)] = []
        if offset > 0 || length != nil {
            if length == 0 { return [] }
            headers.append(("Range", "bytes=\(offset)-" + (length.map { String(offset + $0 - 1) } ?? "")))
        }
        let reply = try send(Call(.GET, try RemoteStore.filePath(session, "files", path), headers: headers), accept: [416], limit: Int.max)
        // Reading at or past the end is empty, as with the embedded store.
        if reply.status == 416 { return [] }
        return [UInt8](reply.body)
    }

    /// Streams a file into `fd` without holding it in memory.
    public func copyFile(_ session: String, path: String, to fd: Int32) throws(AFSError) {
        try download(Call(.GET, try RemoteStore.filePath(session, "files", path)), to: fd)
    }

    public func list(_ session: String, path: String) throws(AFSError) -> [DirectoryEntry] {
        try json([DirectoryEntry].self, Call(.GET, RemoteStore.sessionPath(session, "/tree"), query: [("path", path)]))
    }

    public func writeFile(_ session: String, path: String, data: [UInt8], mode: UInt32?, context: MutationContext) throws(AFSError) {
        var headers: [(String, String)] = []
        if let mode { headers.append(("X-AFS-Mode", String(mode, radix: 8))) }
        _ = try send(
            Call(.PUT, try RemoteStore.filePath(session, "files", path), headers: headers, context: context),
            body: .bytes(Data(data), contentType: "application/octet-stream"))
    }

    /// Streams a file's new content from `fd` (a pipe or a file), whatever its size.
    public func writeFile(_ session: String, path: String, from fd: Int32, mode: UInt32?, mtime: Int64?, context: MutationContext) throws(AFSError) {
        var headers: [(String, String)] = []
        if let mode { headers.append(("X-AFS-Mode", String(mode, radix: 8))) }
        if let mtime { headers.append(("X-AFS-Mtime", String(mtime))) }
        _ = try send(
            Call(.PUT, try RemoteStore.filePath(session, "files", path), headers: headers, context: context),
            body: .descriptor(fd, contentType: "application/octet-stream"))
    }

    public func makeDirectory(_ session: String, path: String, parents: Bool, mode: UInt32, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/mkdir"), context: context),
            body: RemoteStore.jsonBody(["path": path, "parents": parents, "mode": Int(mode)]))
    }

    public func remove(_ session: String, path: String, recursive: Bool, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.DELETE, try RemoteStore.filePath(session, "files", path), query: recursive ? [("recursive", "true")] : [], context: context))
    }

    public func rename(_ session: String, from: String, to: String, context: MutationContext) throws(AFSError) {
        _ = try send(Call(.POST, RemoteStore.sessionPath(session, "/rename"), context: context), body: RemoteStore.jsonBody(["from": from, "to": to]))
    }

    public func symlink(_ session: String, path: String, target: String, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/symlink"), context: context),
            body: RemoteStore.jsonBody(["path": try SessionPath(path).description, "target": target]))
    }

    public func setMode(_ session: String, path: String, mode: UInt32, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/chmod"), context: context),
            body: RemoteStore.jsonBody(["path": try SessionPath(path).description, "mode": Int(mode & 0o7777)]))
    }

    public func setTimes(_ session: String, path: String, mtime: Int64, context: MutationContext) throws(AFSError) {
        _ = try send(
            Call(.POST, RemoteStore.sessionPath(session, "/times"), context: context),
            body: RemoteStore.jsonBody(["path": try SessionPath(path).description, "mtime": mtime]))
    }
}

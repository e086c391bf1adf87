import AFSCore
import AFSWire
import Foundation
import Hummingbird
import NIOCore

extension AetherServer {
    func addFileRoutes(_ api: APIRouteTable) {
        api.tag = "files"
        api.add(.get, "/v1/sessions/{id}/files/{path}", "Read a file (Range honoured; ETag = content ID).", catchAll: true,
            query: [.string("at", "Read the path as it is in another session, checkpoint, commit, ref or snapshot you can see (as diff's `against`).")],
            replies: [.bytes("application/octet-stream", "the file's bytes"), RouteReply(status: 206, description: "the requested range", body: .bytes("application/octet-stream"))]) { request, context in
            let id = try context.parameters.require("id")
            let path = HTTPHelpers.filePath(context)
            let file = try await self.openFile(id, path: path, at: HTTPHelpers.query(request, "at"), principal: try context.require(.reader))
            self.count(context, "read", session: id)
            let etag = "\"\(file.contentID)\""
            if let inm = request.headers[.ifNoneMatch], inm == etag || inm == "*" {
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            var headers: HTTPFields = [.eTag: etag, .acceptRanges: "bytes", .contentType: "application/octet-stream"]
            var status = HTTPResponse.Status.ok
            var start: UInt64 = 0
            var length = file.size
            do {
                if let range = try HTTPHelpers.byteRange(request.headers[.range], size: file.size) {
                    status = .partialContent
                    start = range.lowerBound
                    length = range.upperBound - range.lowerBound + 1
                    headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(file.size)"
                }
            } catch let e as APIError {
                var r = e.response
                r.headers[.contentRange] = "bytes */\(file.size)"
                return r
            }
            let window: UInt64 = 1 << 20
            let (first, count) = (start, length)
            let body = ResponseBody(contentLength: Int(count)) { writer in
                var offset = first
                let end = first + count
                while offset < end {
                    let n = min(window, end - offset)
                    let o = offset
                    let bytes = try await Blocking.run { try file.read(offset: o, length: n) }
                    try await writer.write(ByteBuffer(bytes: bytes))
                    offset += n
                }
                try await writer.finish(nil)
            }
            return Response(status: status, headers: headers, body: body)
        }

        api.add(.post, "/v1/sessions/{id}/read", "Read many files in one response: a pax tar stream of the regular files among `paths` (at most \(AetherStore.readFilesLimit)), in the order given, all from one version of the session; paths that name nothing or no regular file are left out.",
            body: .json(ReadFilesRequest.self), replies: [.bytes("application/x-tar", "a pax tar archive of the files, each named by its path without the leading slash")]) { request, context in
            let id = try context.parameters.require("id")
            let principal = try context.require(.reader)
            let wanted = try await HTTPHelpers.decode(ReadFilesRequest.self, from: request, context: context)
            let files = try await self.openFiles(id, paths: wanted.paths, principal: principal)
            self.count(context, "read", session: id)
            let archive = FileArchive(files)
            let body = ResponseBody { writer in
                // A batch of small files is one piece: produced and written without another hop.
                repeat {
                    guard let piece = try await Blocking.run({ try archive.next() }) else { break }
                    try await writer.write(ByteBuffer(bytes: piece))
                } while !archive.isComplete
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "application/x-tar"], body: body)
        }
        api.add(.post, "/v1/sessions/{id}/chunks/missing", "Which of these chunk IDs a chunked write of `path` must send as bytes (the others are in the base file).", role: .writer, body: .json(MissingChunksRequest.self), replies: [.ok(MissingChunksReply.self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(MissingChunksRequest.self, from: request, context: context)
            let missing = try await self.missingChunks(id, path: body.path, bases: body.bases ?? [], chunks: body.chunks)
            return try HTTPHelpers.json(MissingChunksReply(missing: missing))
        }

        api.add(.put, "/v1/sessions/{id}/files/{path}", "Write a whole file from a streamed body: its bytes, or (Content-Type application/vnd.aetherfs.chunks) chunk records that send only chunks the base (X-AFS-Base, default the file itself) lacks. If-Match, X-AFS-Lock-Token, X-AFS-Mode, X-AFS-Mtime in ns, X-AFS-Ctime in ns (when the writer changed the file; kept unless later than the write).", role: .writer, catchAll: true,
            body: .bytes(["application/octet-stream", "application/vnd.aetherfs.chunks"], "The file's bytes, or chunk records."), replies: [.created(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let path = HTTPHelpers.filePath(context)
            let m = try HTTPHelpers.mutation(request, p)
            var mode: UInt32?
            if let raw = request.headers[.fileMode] {
                guard let v = UInt32(raw, radix: 8), v <= 0o7777 else { throw APIError.badRequest("X-AFS-Mode must be octal, e.g. 644") }
                mode = v
            }
            let mtime = try HTTPHelpers.nanoseconds(request, .fileMtime)
            let ctime = try HTTPHelpers.nanoseconds(request, .fileCtime)
            let store = self.store
            // Refuse early (before reading the body) what would be refused at the end.
            if let ifMatch = request.headers[.ifMatch] {
                let current = try? await Blocking.run { try store.openFile(id, path: path) }
                let etag = current.map { "\"\($0.contentID)\"" }
                guard ifMatch == "*" ? current != nil : etag == ifMatch else {
                    throw APIError(.preconditionFailed, "precondition_failed", "If-Match \(ifMatch) does not match the current version \(etag ?? "(none)") of \(path)")
                }
            }
            if let length = request.headers[.contentLength].flatMap({ UInt64($0) }), length > self.configuration.maxFileBytes {
                throw APIError(.contentTooLarge, "too_large", "files are limited to \(self.configuration.maxFileBytes) bytes")
            }
            let (fileMode, fileTime, changeTime) = (mode, mtime, ctime)
            let chunked = request.headers[.contentType]?.hasPrefix(ChunkedContent.mediaType) == true
            let bases = chunked ? [request.headers[.baseFile] ?? path] : []
            let upload = try await Blocking.run { try store.beginUpload(id, path: path, mode: fileMode, mtime: fileTime, ctime: changeTime, bases: bases) }
            var total: UInt64 = 0
            do {
                let limit = self.configuration.maxFileBytes
                if chunked {
                    // Records arrive split across buffers however the network cut them.
                    var decoder = ChunkedContent.Decoder()
                    for try await buffer in request.body {
                        decoder.push(buffer.readableBytesView)
                        var records: [ChunkedContent.Record] = []
                        while let record = try decoder.next() { records.append(record) }
                        for record in records {
                            switch record {
                            case .reference(_, let length): total += UInt64(length)
                            case .data(_, let bytes): total += UInt64(bytes.count)
                            }
                        }
                        if total > limit { throw APIError(.contentTooLarge, "too_large", "files are limited to \(limit) bytes") }
                        let batch = records
                        try await Blocking.run {
                            for record in batch {
                                switch record {
                                case .reference(let cid, let length): try upload.appendReference(cid, length: length)
                                case .data(let cid, let bytes): try upload.appendChunk(bytes, id: cid)
                                }
                            }
                        }
                    }
                    guard !decoder.hasPartialRecord else { throw APIError.badRequest("the chunked body ends inside a record") }
                } else {
                    for try await buffer in request.body {
                        total += UInt64(buffer.readableBytes)
                        if total > limit {
                            throw APIError(.contentTooLarge, "too_large", "files are limited to \(limit) bytes")
                        }
                        let bytes = Array(buffer.readableBytesView)
                        try await Blocking.run { try upload.append(bytes) }
                    }
                }
                try await Blocking.run { try upload.finish(context: m) }
            } catch {
                upload.cancel()
                throw error
            }
            self.count(context, "write", session: id)
            let file = try await Blocking.run { try store.stat(id, path: path) }
            return try HTTPHelpers.json(file, status: .created, headers: [.eTag: "\"\(file.contentID ?? "")\""])
        }

        api.add(.patch, "/v1/sessions/{id}/files/{path}", "Replace bytes at an offset (?offset=N or Content-Range: bytes A-B/*) with the body.", role: .writer, catchAll: true,
            body: .bytes(["application/octet-stream"], "The bytes to write at the offset."), query: [.integer("offset", "Where the bytes go.")], replies: [.ok(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let path = HTTPHelpers.filePath(context)
            let m = try HTTPHelpers.mutation(request, p)
            var offset = try HTTPHelpers.queryUInt(request, "offset")
            if offset == nil, let cr = request.headers[.contentRange], cr.hasPrefix("bytes ") {
                offset = cr.dropFirst(6).split(separator: "-").first.flatMap { UInt64($0) }
            }
            guard let offset else { throw APIError.badRequest("give ?offset=N or Content-Range: bytes A-B/*") }
            let body = try await request.body.collect(upTo: 64 << 20)
            let bytes = Array(body.readableBytesView)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.patchFile(id, path: path, offset: offset, data: bytes, context: m)
                return try store.stat(id, path: path)
            }
            self.count(context, "patch", session: id)
            return try HTTPHelpers.json(st, headers: [.eTag: "\"\(st.contentID ?? "")\""])
        }

        api.add(.delete, "/v1/sessions/{id}/files/{path}", "Delete a file, symlink or directory.", role: .writer, catchAll: true, query: [.boolean("recursive", "Delete a directory and everything in it.")], replies: [.noContent]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let path = HTTPHelpers.filePath(context)
            let m = try HTTPHelpers.mutation(request, p)
            let recursive = HTTPHelpers.query(request, "recursive") == "true"
            let store = self.store
            try await Blocking.run { try store.remove(id, path: path, recursive: recursive, context: m) }
            self.count(context, "delete", session: id)
            return Response(status: .noContent)
        }

        api.add(.post, "/v1/sessions/{id}/rename", "Rename a file or directory.", role: .writer, body: .json(RenameRequest.self), replies: [.ok(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(RenameRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.rename(id, from: body.from, to: body.to, context: m)
                return try store.stat(id, path: body.to)
            }
            return try HTTPHelpers.json(st)
        }

        api.add(.post, "/v1/sessions/{id}/mkdir", "Create a directory.", role: .writer, body: .json(MkdirRequest.self), replies: [.created(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(MkdirRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.makeDirectory(id, path: body.path, parents: body.parents ?? false, mode: body.mode ?? 0o755, context: m)
                return try store.stat(id, path: body.path)
            }
            return try HTTPHelpers.json(st, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/symlink", "Create a symbolic link (the target is stored as given, never followed).", role: .writer, body: .json(SymlinkRequest.self), replies: [.created(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(SymlinkRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.symlink(id, path: body.path, target: body.target, context: m)
                return try store.stat(id, path: body.path)
            }
            self.count(context, "symlink", session: id)
            return try HTTPHelpers.json(st, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/chmod", "Set the permission bits of a file, symlink or directory.", role: .writer, body: .json(ChmodRequest.self), replies: [.ok(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(ChmodRequest.self, from: request, context: context)
            guard body.mode <= 0o7777 else { throw APIError.badRequest("mode must be at most 0o7777 (4095): permission bits only") }
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.setMode(id, path: body.path, mode: body.mode, context: m)
                return try store.stat(id, path: body.path)
            }
            self.count(context, "chmod", session: id)
            return try HTTPHelpers.json(st)
        }

        api.add(.post, "/v1/sessions/{id}/times", "Set the modification and/or access time (mtime, atime: nanoseconds since 1970) of a path.", role: .writer, body: .json(TimesRequest.self), replies: [.ok(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(TimesRequest.self, from: request, context: context)
            guard body.mtime != nil || body.atime != nil else { throw APIError(.unprocessableContent, "invalid_body", "give mtime, atime or both") }
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.setTimes(id, path: body.path, mtime: body.mtime, atime: body.atime, context: m)
                return try store.stat(id, path: body.path)
            }
            self.count(context, "touch", session: id)
            return try HTTPHelpers.json(st)
        }

        api.add(.post, "/v1/sessions/{id}/batch", "Apply many changes in order with one durable wait: {\"changes\": [{\"op\": \"mkdir\"|\"remove\"|\"write\"|\"chmod\"|\"times\", \"path\", \"mode\"?, \"mtime\"? (ns), \"atime\"? (ns), \"data\"? (base64)}]} (at most 1000 changes; the JSON body at most 4 MiB). Answers {\"outcomes\": [{\"path\", \"stat\"?, \"code\"?, \"message\"?}]}, one per change: a refused change does not stop the others.", role: .writer, body: .json(BatchRequest.self), replies: [.ok(BatchReply.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(BatchRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let outcomes = try await Blocking.run { () -> [BatchOutcome] in try store.apply(id, body.changes, context: m) }
            self.count(context, "batch", session: id)
            return try HTTPHelpers.json(BatchReply(outcomes: outcomes))
        }

        api.add(.post, "/v1/sessions/{id}/atimes", "Move access times forward (relatime reads by a mount): {\"atimes\": {path: ns}}; no change time, no event. Answers {\"moved\": N}.", role: .writer, body: .json(AccessTimesRequest.self), replies: [.ok(AccessTimesReply.self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(AccessTimesRequest.self, from: request, context: context)
            guard body.atimes.count <= 10_000 else { throw APIError(.contentTooLarge, "too_many_paths", "at most 10000 paths per request; send the rest in another") }
            let store = self.store
            let moved = try await Blocking.run { try store.recordAccessTimes(id, body.atimes) }
            return try HTTPHelpers.json(AccessTimesReply(moved: moved))
        }

        api.add(.post, "/v1/sessions/{id}/mknod", "Create a FIFO, socket or device node (kind fifo, socket, char-device, block-device; metadata only).", role: .writer, body: .json(MknodRequest.self), replies: [.created(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(MknodRequest.self, from: request, context: context)
            guard (body.mode ?? 0) <= 0o7777 else { throw APIError.badRequest("mode must be at most 0o7777 (4095): permission bits only") }
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.makeNode(id, path: body.path, kind: body.kind, mode: body.mode ?? 0o644, rdev: body.rdev ?? 0, context: m)
                return try store.stat(id, path: body.path)
            }
            self.count(context, "mknod", session: id)
            return try HTTPHelpers.json(st, status: .created)
        }

        api.add(.post, "/v1/sessions/{id}/chown", "Record a numeric owner (uid) and/or group (gid) of a path; set-id bits are cleared as chown(2) does.", role: .writer, body: .json(ChownRequest.self), replies: [.ok(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(ChownRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.setOwner(id, path: body.path, uid: body.uid, gid: body.gid, context: m)
                return try store.stat(id, path: body.path)
            }
            self.count(context, "chown", session: id)
            return try HTTPHelpers.json(st)
        }

        api.add(.post, "/v1/sessions/{id}/link", "Give the file at `from` another name `to` (a hard link; not for directories).", role: .writer, body: .json(LinkRequest.self), replies: [.created(FileStat.self)]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(LinkRequest.self, from: request, context: context)
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            let st = try await Blocking.run { () -> FileStat in
                try store.link(id, from: body.from, to: body.to, context: m)
                return try store.stat(id, path: body.to)
            }
            self.count(context, "link", session: id)
            return try HTTPHelpers.json(st, status: .created)
        }

        api.add(.get, "/v1/sessions/{id}/links", "Every name of a file (its hard links), sorted.", query: [.string("path", "A path in the session.", required: true)], replies: [.ok(HardLinksReply.self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            guard let path = HTTPHelpers.query(request, "path") else { throw APIError.badRequest("query parameter path is required") }
            let store = self.store
            let names = try await Blocking.run { try store.hardLinks(id, path: path) }
            return try HTTPHelpers.json(HardLinksReply(path: path, names: names))
        }

        api.add(.get, "/v1/sessions/{id}/xattrs", "Extended attributes of a path (user. namespace), values in base64.", query: [.string("path", "A path in the session.", required: true)], replies: [.ok(XattrsReply.self)]) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            guard let path = HTTPHelpers.query(request, "path") else { throw APIError.badRequest("query parameter path is required") }
            let store = self.store
            let values = try await Blocking.run { try store.extendedAttributes(id, path: path) }
            return try HTTPHelpers.json(XattrsReply(path: path, xattrs: values.mapValues { Data($0).base64EncodedString() }))
        }

        api.add(.post, "/v1/sessions/{id}/xattrs", "Set one extended attribute (user. namespace; value in base64; disposition any, create or replace).", role: .writer, body: .json(XattrSetRequest.self), replies: [.noContent]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            let body = try await HTTPHelpers.decode(XattrSetRequest.self, from: request, context: context)
            guard let value = Data(base64Encoded: body.value) else { throw APIError.badRequest("value must be base64") }
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            try await Blocking.run {
                try store.setExtendedAttribute(id, path: body.path, name: body.name, value: [UInt8](value), disposition: body.disposition ?? .any, context: m)
            }
            self.count(context, "xattr", session: id)
            return Response(status: .noContent)
        }

        api.add(.delete, "/v1/sessions/{id}/xattrs", "Remove one extended attribute.", role: .writer, query: [.string("path", "A path in the session.", required: true), .string("name", "The attribute's name (user.…).", required: true)], replies: [.noContent]) { request, context in
            let id = try context.parameters.require("id")
            let p = try context.require(.writer)
            _ = try await self.authorize(id, context, .writer)
            guard let path = HTTPHelpers.query(request, "path"), let name = HTTPHelpers.query(request, "name") else {
                throw APIError.badRequest("query parameters path and name are required")
            }
            let m = try HTTPHelpers.mutation(request, p)
            let store = self.store
            try await Blocking.run { try store.removeExtendedAttribute(id, path: path, name: name, context: m) }
            self.count(context, "xattr", session: id)
            return Response(status: .noContent)
        }

        api.add(
            .get, "/v1/sessions/{id}/tree", "List a directory, or with recursive=true everything below it (one consistent snapshot, depth first).",
            query: [
                .string("path", "The directory (default /)."), .boolean("recursive", "Everything below it too."),
                .integer("limit", "With recursive: the most entries wanted; a tree holding more answers 400 naming the limit (default: no limit)."),
            ], replies: [.ok([TreeEntry].self)]
        ) { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let path = try SessionPath(HTTPHelpers.query(request, "path") ?? "/").description
            let recursive = HTTPHelpers.query(request, "recursive") == "true"
            let limit = try HTTPHelpers.queryUInt(request, "limit").map { Int(clamping: $0) }
            let store = self.store
            let entries = try await Blocking.run { () -> [TreeEntry] in
                if recursive { return try store.listTree(id, path: path, limit: limit) }
                let prefix = path == "/" ? "/" : path + "/"
                return try store.list(id, path: path).map { TreeEntry(path: prefix + $0.name, entry: $0) }
            }
            return try HTTPHelpers.json(entries)
        }

        api.add(.get, "/v1/sessions/{id}/stat/{path}", "Kind, mode, size, owner, times, device number, xattr names and content ID of a path.", catchAll: true, replies: [.ok(FileStat.self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let path = HTTPHelpers.filePath(context)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.stat(id, path: path) })
        }

        // The catch-all above needs at least one component; the root has its own route.
        api.add(.get, "/v1/sessions/{id}/stat", "Mode, owner and times of the session's root directory.", replies: [.ok(FileStat.self)]) { _, context in
            let id = try context.parameters.require("id")
            _ = try await self.authorize(id, context, .reader)
            let store = self.store
            return try HTTPHelpers.json(try await Blocking.run { try store.stat(id, path: "/") })
        }
    }
}

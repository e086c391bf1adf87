import AFSCore
import AFSWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    static let lockToken = HTTPField.Name("X-AFS-Lock-Token")!
    static let actor = HTTPField.Name("X-AFS-Actor")!
    /// `UID:GID` (either may be empty): the owner recorded on entries the request creates.
    static let owner = HTTPField.Name("X-AFS-Owner")!
    static let fileMode = HTTPField.Name("X-AFS-Mode")!
    static let fileMtime = HTTPField.Name("X-AFS-Mtime")!
    static let fileCtime = HTTPField.Name("X-AFS-Ctime")!
    static let baseFile = HTTPField.Name("X-AFS-Base")!
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}

enum HTTPHelpers {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try encoder.encode(value)
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a small JSON body; malformed JSON is a 400, a wrong shape a 422.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: AFSRequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("a JSON body is required") }
        return try decode(type, from: Data(buffer.readableBytesView))
    }

    /// Decodes a JSON body; malformed JSON is a 400, a wrong shape a 422. The body is parsed once:
    /// only a body that failed to decode is parsed again, to tell which of the two it was (a
    /// validating parse before every decode was 2 % of the service's CPU while a mount published
    /// a `tar -x` in 2 MiB batches).
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            guard (try? JSONSerialization.jsonObject(with: data)) != nil else { throw APIError.badRequest("the body is not valid JSON") }
            throw APIError(.unprocessableContent, "invalid_body", "the JSON body does not have the expected fields: \(error)")
        }
    }

    static func mutation(_ request: Request, _ principal: Principal) throws -> MutationContext {
        var token: UInt64?
        if let raw = request.headers[.lockToken] {
            guard let t = UInt64(raw) else { throw APIError.badRequest("X-AFS-Lock-Token must be a number") }
            token = t
        }
        let actor = request.headers[.actor] ?? principal.tenant
        guard !actor.isEmpty, actor.utf8.count <= 200 else { throw APIError.badRequest("X-AFS-Actor must be 1…200 bytes") }
        var context = MutationContext(actor: actor, lockToken: token)
        if let raw = request.headers[.owner] {
            let parts = raw.split(separator: ":", omittingEmptySubsequences: false)
            func id(_ s: Substring) throws -> UInt32? {
                if s.isEmpty { return nil }
                guard let v = UInt32(s) else { throw APIError.badRequest("X-AFS-Owner must be UID:GID (numbers; either may be empty)") }
                return v
            }
            guard parts.count == 2 else { throw APIError.badRequest("X-AFS-Owner must be UID:GID (numbers; either may be empty)") }
            context.uid = try id(parts[0])
            context.gid = try id(parts[1])
        }
        return context
    }

    /// A time header in nanoseconds since 1970 (`X-AFS-Mtime`, `X-AFS-Ctime`); nil when absent,
    /// 400 when it is not a number.
    static func nanoseconds(_ request: Request, _ name: HTTPField.Name) throws(APIError) -> Int64? {
        guard let raw = request.headers[name] else { return nil }
        guard let value = Int64(raw) else { throw APIError.badRequest("\(name) must be nanoseconds since 1970, e.g. 1700000000000000000") }
        return value
    }

    static func query(_ request: Request, _ name: String) -> String? {
        request.uri.queryParameters[Substring(name)].map(String.init)
    }

    static func queryUInt(_ request: Request, _ name: String) throws -> UInt64? {
        guard let raw = query(request, name) else { return nil }
        guard let v = UInt64(raw) else { throw APIError.badRequest("query parameter \(name) must be a non-negative integer") }
        return v
    }

    /// The path after `/files/` or `/stat/`, decoded.
    /// A path parameter, percent-decoded (clients escape `/` and spaces in knowledge keys and topics).
    static func decodedParameter(_ context: AFSRequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }

    static func filePath(_ context: AFSRequestContext) -> String {
        "/" + context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }.joined(separator: "/")
    }

    /// `bytes=A-B`, `bytes=A-`, `bytes=-N` → a range within `size`, nil when absent, 416 when unsatisfiable.
    static func byteRange(_ header: String?, size: UInt64) throws -> ClosedRange<UInt64>? {
        guard let header else { return nil }
        guard header.hasPrefix("bytes="), !header.contains(",") else {
            throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "only a single bytes=A-B range is supported")
        }
        let spec = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard spec.count == 2 else { throw APIError(.rangeNotSatisfiable, "range_not_satisfiable", "malformed Range header") }
        let unsatisfiable = APIError(.rangeNotSatisfiable, "range_not_satisfiable", "range \(header) is outside the file (\(size) bytes)")
        if spec[0].isEmpty {
            guard let n = UInt64(spec[1]), n > 0, size > 0 else { throw unsatisfiable }
            return (size - min(n, size))...(size - 1)
        }
        guard let start = UInt64(spec[0]), start < size else { throw unsatisfiable }
        if spec[1].isEmpty { return start...(size - 1) }
        guard let end = UInt64(spec[1]), end >= start else { throw unsatisfiable }
        return start...min(end, size - 1)
    }

    /// Feeds a request body into a blocking consumer through a pipe: memory stays at one buffer.
    static func pipeBody<T: Sendable, Body: AsyncSequence>(
        _ body: Body, maxBytes: UInt64, consumer: @escaping @Sendable (Int32) throws -> T
    ) async throws -> T where Body.Element == [UInt8] {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw APIError(.internalServerError, "io", "pipe failed") }
        let (readFD, writeFD) = (fds[0], fds[1])
        let consumerTask = Task.detached { () throws -> T in
            defer { close(readFD) }
            return try await Blocking.run { try consumer(readFD) }
        }
        var total: UInt64 = 0
        var writeError: Error?
        do {
            for try await bytes in body {
                total += UInt64(bytes.count)
                if total > maxBytes { throw APIError(.contentTooLarge, "too_large", "the body exceeds \(maxBytes) bytes") }
                let ok = try await Blocking.run { () -> Bool in
                    var done = 0
                    while done < bytes.count {
                        let n = bytes.withUnsafeBytes { write(writeFD, $0.baseAddress! + done, bytes.count - done) }
                        if n < 0 { if errno == EINTR { continue }; return false }
                        done += n
                    }
                    return true
                }
                if !ok { break }  // the consumer stopped reading (it failed): its error says why
            }
        } catch {
            writeError = error
        }
        close(writeFD)
        let result = await consumerTask.result
        if let writeError { throw writeError }
        return try result.get()
    }

    /// Streams bytes a blocking producer writes to a pipe as the response body.
    static func pipeResponse(
        headers: HTTPFields, producer: @escaping @Sendable (Int32) throws -> Void
    ) throws -> Response {
        let pipe = try ProducerPipe(producer: producer)
        let body = ResponseBody { writer in
            defer { pipe.closeReadingEnd() }
            while true {
                let chunk = try await pipe.next()
                if chunk.isEmpty { break }
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

import AFSClient
import AFSCore
import AFSSupport
import AFSTestSupport
import Foundation
import Synchronization
import Testing

@testable import AFSMount

/// The parts behind `aether checkpoint`, `status`, `metrics` and `logs`, in process and without a
/// kernel mount: the registry, the control socket, the live checkpoint over a real store,
/// metrics and their Prometheus rendering and endpoint, and the `[logging]` settings.
@Suite(.offCooperativePool) struct MountControlPiecesTests {
    final class Scratch {
        let path = "/var/tmp/afs-ctl-\(UUID().uuidString.prefix(8))"
        init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func record(_ mountpoint: String, pid: Int32, registry: MountRegistry) -> MountRecord {
        MountRecord(
            mountpoint: mountpoint, session: "ses_x", pid: pid, transport: "embedded", store: "/s", socket: registry.socketPath(pid: pid),
            // Whole seconds: the record stores ISO 8601 times.
            log: nil, metrics: nil, cache: "/c", started: Date(timeIntervalSince1970: 1_790_000_000))
    }

    /// A pid that has certainly exited (a child that ran and was reaped).
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test func registryFindsLiveMountsAndDropsStaleOnes() throws {
        let scratch = Scratch()
        let registry = MountRegistry(directory: scratch.path + "/run/aether/mounts")
        #expect(throws: AFSError.self) { try registry.find(nil) }
        try FileManager.default.createDirectory(atPath: scratch.path + "/mnt/a/deep", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path + "/mnt/ab", withIntermediateDirectories: true)
        let live = Self.record(scratch.path + "/mnt/a", pid: getpid(), registry: registry)
        let dead = try Self.deadPID()
        try registry.register(live)
        try registry.register(Self.record(scratch.path + "/mnt/ab", pid: dead, registry: registry))
        #expect(FileManager.default.fileExists(atPath: registry.recordPath(pid: dead)))

        #expect(registry.live() == [live])
        #expect(!FileManager.default.fileExists(atPath: registry.recordPath(pid: dead)), "a stale record is removed when read")
        #expect(try registry.find(nil) == live)
        #expect(try registry.find(scratch.path + "/mnt/a/deep") == live)
        #expect(try registry.find(scratch.path + "/mnt/a/../a") == live)
        #expect { try registry.find(scratch.path + "/mnt/ab") } throws: { ($0 as? AFSError)?.code == .notFound }
        let mode = try FileManager.default.attributesOfItem(atPath: registry.directory)[.posixPermissions] as? Int
        #expect(mode == 0o700, "sockets that can checkpoint sessions are the owner's only")
        // Each mountpoint's socket link names the mount's socket; a later mount on the same
        // directory takes it over, and the earlier one's removal leaves it alone.
        let link = MountSockets.link(forMountpoint: live.mountpoint, in: registry.directory)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == live.socket)
        var successor = live
        successor.pid = dead
        successor.socket = registry.socketPath(pid: dead)
        try registry.register(successor)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == successor.socket)
        registry.remove(live)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == successor.socket)
        registry.remove(successor)
        #expect(!FileManager.default.fileExists(atPath: link) && (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
        #expect(registry.live().isEmpty)
    }

    /// The fsmonitor query (`aether-fsmonitor`, `aether fsmonitor hook`) finds the mount of a work
    /// tree by its socket link, from any directory inside it, skips links whose mount died, and
    /// asks with the work tree's path, which the mount must contain.
    @Test func fsmonitorQueryFindsTheMountByItsLink() throws {
        let scratch = Scratch()
        let registry = MountRegistry(directory: scratch.path + "/run/aether/mounts")
        let mountpoint = scratch.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint + "/repo/src", withIntermediateDirectories: true)
        let record = Self.record(mountpoint, pid: getpid(), registry: registry)
        let asked = Locked<[ControlRequest]>([])
        try registry.prepare()
        let server = try ControlServer(path: record.socket) { request in
            asked.withLock { $0.append(request) }
            guard let path = request.path, MountPath.isWithin(path, mountpoint) else { return ControlProtocol.Reply(error: AFSError(.notFound, "not mine")) }
            return ControlProtocol.Reply(changes: ChangedPaths(token: "aether:1:s:9", paths: ["src/a.c", "docs/"], everything: false))
        }
        server.start()
        defer { server.stop() }
        try registry.register(record)
        // A dead mount's link on an inner directory is passed over.
        try registry.register(Self.record(mountpoint + "/repo/src", pid: try Self.deadPID(), registry: registry))

        let output = try FSMonitorQuery.answer(version: 2, token: "aether:1:s:3", workTree: mountpoint + "/repo/src", registry: registry.directory)
        #expect(output == Array("aether:1:s:9\0src/a.c\0docs/\0".utf8))
        #expect(asked.withLock { $0 } == [ControlRequest(op: .changes, since: "aether:1:s:3", path: mountpoint + "/repo/src")])
        #expect { try FSMonitorQuery.answer(version: 1, token: "", workTree: mountpoint, registry: registry.directory) } throws: {
            ($0 as? ControlFailure)?.code == "invalid_argument"
        }
        #expect { try FSMonitorQuery.answer(version: 2, token: "", workTree: scratch.path, registry: registry.directory) } throws: {
            ($0 as? ControlFailure)?.code == "not_found"
        }
        #expect(asked.withLock { $0.count } == 1, "nothing outside the mount reached it")
    }

    @Test func controlSocketAnswersAndReportsErrorsAsTheyWere() throws {
        let scratch = Scratch()
        let path = scratch.path + "/c.sock"
        let server = try ControlServer(path: path) { request in
            request.op == .metrics
                ? ControlProtocol.Reply(error: AFSError(.conflict, "asked for \(request.label ?? "-")"))
                : ControlProtocol.Reply(checkpoint: try? ControlProtocol.decoder.decode(
                    CheckpointInfo.self,
                    from: Data(#"{"id": "ckp_1", "session_id": "s", "root": "\#(String(repeating: "0", count: 64))", "label": "\#(request.label ?? "")", "created_at": "2026-01-01T00:00:00Z", "change_seq": 0}"#.utf8)))
        }
        server.start()
        defer { server.stop() }
        let reply = try ControlProtocol.call(path, .init(op: .checkpoint, label: "L"))
        #expect(reply.checkpoint?.id == "ckp_1" && reply.checkpoint?.label == "L")
        #expect { try ControlProtocol.call(path, .init(op: .metrics, label: "x")) } throws: {
            ($0 as? AFSError)?.code == .conflict && ($0 as? AFSError)?.message == "asked for x"
        }
        // A malformed request is answered with an error, not a dropped connection.
        let fd = try UnixSocket.connect(to: path)
        defer { close(fd) }
        try UnixSocket.writeAll(fd, Array("{\"op\": \"explode\"}\n".utf8))
        let line = try #require(try UnixSocket.readLine(fd))
        #expect(String(decoding: line, as: UTF8.self).contains("invalid_argument"))
        #expect { try ControlProtocol.call(scratch.path + "/none.sock", .init(op: .metrics)) } throws: { ($0 as? AFSError)?.code == .unavailable }
        #expect { try UnixSocket.listen(at: "/tmp/" + String(repeating: "x", count: 120)) } throws: { ($0 as? UnixSocket.Failure)?.code == ENAMETOOLONG }
        #expect { try ControlServer(path: "/tmp/" + String(repeating: "x", count: 120)) { _ in .init() } } throws: { ($0 as? AFSError)?.code == .invalidArgument }
    }

    @Test func liveCheckpointPublishesOpenFilesFirst() throws {
        let scratch = Scratch()
        let store = try AetherStore.open(at: scratch.path + "/store")
        defer { try? store.close() }
        let session = try store.createSession(from: .blank).id
        let cache = try ContentCache(.init(directory: scratch.path + "/cache", maxBytes: 1 << 30))
        let fs = try SessionFilesystem(service: store, session: session, cache: cache, context: MutationContext(actor: "mount"))
        let h = try fs.create("/draft.txt", mode: 0o644)
        _ = try fs.write(h, offset: 0, bytes: Array("not flushed".utf8))
        #expect(throws: AFSError.self) { try store.stat(session, path: "/draft.txt") }

        let checkpoint = try MountControl.checkpoint(fs, label: "live", actor: "agent-7")
        let fork = try store.createSession(from: .checkpoint(checkpoint.id)).id
        #expect(try store.readFile(fork, path: "/draft.txt") == Array("not flushed".utf8))
        #expect(try store.changes(session, after: 0, limit: 100).last { $0.kind == .checkpoint }?.actor == "agent-7")
        try fs.release(h)

        // Metrics through the same handler the socket uses.
        let reply = MountControl.handle(.init(op: .metrics), filesystem: fs, mountpoint: "/mnt", log: MountLog(format: .text, session: session, descriptor: -1))
        #expect(reply.metrics?.bytes.written == 11 && reply.metrics?.bytes.uploaded == 11 && reply.metrics?.session == session)
    }

    @Test func metricsBucketsQuantilesAndPrometheusText() throws {
        let metrics = MountMetrics(session: "ses_\"q\"")
        for _ in 0..<98 { metrics.record("read", duration: .microseconds(80), failed: false) }
        metrics.record("read", duration: .milliseconds(30), failed: true)
        metrics.record("read", duration: .seconds(20), failed: false)
        metrics.add(read: 4096, downloaded: 10)
        let scratch = Scratch()
        let cache = try ContentCache(.init(directory: scratch.path, maxBytes: 1 << 20))
        var snapshot = metrics.snapshot(session: "ses_\"q\"", cache: cache, openFiles: 2, writeBack: (queued: 5, sent: 40, failed: 1))
        let read = try #require(snapshot.operations["read"])
        #expect(read.count == 100 && read.errors == 1)
        #expect(read.buckets.first == 98 && read.buckets.last == 1)
        #expect(read.quantile(0.5) == 0.0001)
        #expect(read.quantile(0.99) == 0.05)
        #expect(read.quantile(1) == .infinity)
        snapshot.cacheHits = 3
        snapshot.cacheMisses = 1
        #expect(snapshot.cacheHitRatio == 0.75)
        let text = metrics.prometheusText(snapshot)
        #expect(text.contains(#"aether_mount_changes_queued{session="ses_\"q\""} 5"#))
        #expect(text.contains(#"aether_mount_changes_sent_total{session="ses_\"q\""} 40"#))
        #expect(text.contains(#"aether_mount_changes_refused_total{session="ses_\"q\""} 1"#))
        #expect(text.contains(#"aether_mount_operations_total{session="ses_\"q\"",op="read"} 100"#))
        #expect(text.contains(#"aether_mount_operation_errors_total{session="ses_\"q\"",op="read"} 1"#))
        #expect(text.contains(#"aether_mount_operation_duration_seconds_bucket{session="ses_\"q\"",op="read",le="0.0001"} 98"#))
        #expect(text.contains(#"aether_mount_operation_duration_seconds_bucket{session="ses_\"q\"",op="read",le="10.0"} 99"#))
        #expect(text.contains(#"aether_mount_operation_duration_seconds_bucket{session="ses_\"q\"",op="read",le="+Inf"} 100"#))
        #expect(text.contains(#"aether_mount_bytes_total{session="ses_\"q\"",direction="read"} 4096"#))
        #expect(text.contains(#"aether_mount_open_files{session="ses_\"q\""} 2"#))
        // Every sample line belongs to a declared family.
        let families = Set(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            let family = ["_bucket", "_sum", "_count"].reduce(String(name)) { $0.hasSuffix($1) && !families.contains(Substring($0)) ? String($0.dropLast($1.count)) : $0 }
            #expect(families.contains(Substring(family)), "\(line)")
        }
    }

    @Test func metricsEndpointServesPrometheusText() throws {
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0") { "aether_test 1\n" }
        defer { endpoint.stop() }
        #expect(endpoint.address.hasPrefix("127.0.0.1:") && !endpoint.address.hasSuffix(":0"))
        let ok = try HTTPTestClient.request("GET", "http://\(endpoint.address)/metrics")
        #expect(ok.status == 200 && String(decoding: ok.body, as: UTF8.self) == "aether_test 1\n")
        #expect(try HTTPTestClient.request("GET", "http://\(endpoint.address)/metrics?x=1").status == 200)
        #expect(try HTTPTestClient.request("POST", "http://\(endpoint.address)/metrics").status == 404)
        #expect(try HTTPTestClient.request("GET", "http://\(endpoint.address)/").status == 404)
        // The same address again cannot be bound: the caller turns this into a warning.
        #expect { try MetricsEndpoint(address: endpoint.address) { "" } } throws: { ($0 as? AFSError)?.code == .unavailable }
    }

    @Test func loggingSettingsAndJSONLines() throws {
        #expect(try LoggingConfiguration.load(ClientConfiguration()) == LoggingConfiguration(format: .text, metricsAddress: "127.0.0.1:9464"))
        let json = try LoggingConfiguration.load(ClientConfiguration(values: ["logging.format": "json", "logging.metrics_addr": "off"]))
        #expect(json == LoggingConfiguration(format: .json, metricsAddress: nil))
        #expect(try LoggingConfiguration.load(ClientConfiguration(values: ["logging.metrics_addr": "[::1]:0"])).metricsAddress == "[::1]:0")
        for bad in [["logging.format": "xml"], ["logging.metrics_addr": "9464"], ["logging.metrics_addr": "host:99999"], ["logging.metrics_addr": ":80"]] {
            #expect { try LoggingConfiguration.load(ClientConfiguration(values: bad)) } throws: { ($0 as? AFSError)?.code == .invalidArgument }
        }

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let log = MountLog(format: .json, session: "ses_1", descriptor: fds[1])
        log.write("line with \"quotes\"\nand a newline", level: .warning)
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1, "one record per line, newlines escaped")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["level"] == "warning" && object["session"] == "ses_1" && object["message"] == "line with \"quotes\"\nand a newline")
        #expect(object["time"].flatMap { try? Date($0, strategy: .iso8601) } != nil || object["time"]?.hasSuffix("Z") == true)
    }
}

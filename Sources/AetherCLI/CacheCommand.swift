import AFSClient
import AFSCore
import AFSMount
import ArgumentParser
import Foundation

/// `aether cache`: the local content cache every mount on this machine shares.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect, empty or warm the local content cache that mounts read from.",
        discussion: """
            File contents fetched by mounts are kept under [cache] dir (default ~/.cache/aether), one file
            per content identity, up to [cache] max_bytes (default 4 GiB, least recently used evicted).
            Equal content has an equal identity in every session and fork, so a fork of a session read
            before is served from here at once.
            """,
        subcommands: [Status.self, Clear.self, Prefetch.self])

    /// `--cache-dir`, shared by the subcommands.
    struct Location: ParsableArguments {
        @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Cache directory (default: [cache] dir).", valueName: "DIR"))
        var cacheDirectory: String?

        func configuration() throws(AFSError) -> ContentCache.Configuration {
            var configuration = try ContentCache.Configuration.load(try ClientConfiguration.load())
            if let cacheDirectory { configuration.directory = cacheDirectory }
            return configuration
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cache's directory, size, budget and entries, and the hit ratio of live mounts using it.")
        @OptionGroup var location: Location
        @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

        struct Report: Encodable {
            var directory: String
            var bytes: UInt64
            var maxBytes: UInt64
            var entries: Int
            /// Opens served from the cache by the live mounts that use it (counted since each started).
            var hits: UInt64
            var misses: UInt64
            var hitRatio: Double?
            var mounts: [String]

            enum CodingKeys: String, CodingKey {
                case directory, bytes, entries, hits, misses, mounts
                case maxBytes = "max_bytes"
                case hitRatio = "hit_ratio"
            }
        }

        func run() throws {
            do throws(AFSError) {
                let configuration = try location.configuration()
                let usage = ContentCache.measure(configuration)
                var report = Report(
                    directory: configuration.directory, bytes: usage.bytes, maxBytes: configuration.maxBytes, entries: usage.entries,
                    hits: 0, misses: 0, hitRatio: nil, mounts: [])
                // Hits are counted by the processes that read: the live mounts sharing this directory.
                let canonical = MountRegistry.canonical(configuration.directory)
                for mount in MountRegistry.standard().live() where MountRegistry.canonical(mount.cache) == canonical {
                    guard let metrics = try? ControlProtocol.call(mount.socket, .init(op: .metrics), timeout: 5).metrics else { continue }
                    report.hits += metrics.cacheHits
                    report.misses += metrics.cacheMisses
                    report.mounts.append(mount.mountpoint)
                }
                if report.hits + report.misses > 0 { report.hitRatio = Double(report.hits) / Double(report.hits + report.misses) }
                Output.emit(report, json: json) {
                    let share = report.maxBytes == 0 ? 0 : Double(report.bytes) / Double(report.maxBytes) * 100
                    let ratio = report.hitRatio.map {
                        String(format: "%.1f %% (%llu hits, %llu misses across %d live mount%@)", $0 * 100, report.hits, report.misses, report.mounts.count, report.mounts.count == 1 ? "" : "s")
                    } ?? (report.mounts.isEmpty ? "- (no live mount uses this cache)" : "- (no opens yet)")
                    return """
                        directory  \(report.directory)
                        used       \(Output.bytes(Int64(report.bytes))) of \(Output.bytes(Int64(report.maxBytes))) (\(String(format: "%.1f", share)) %)
                        entries    \(report.entries)
                        hit ratio  \(ratio)
                        """
                }
            } catch {
                throw CLIError(error, json: json)
            }
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every cached content.",
            discussion: "Safe while mounts run: files they hold open stay readable, and the next open fetches again.")
        @OptionGroup var location: Location
        @Flag(name: .long, help: "Print one JSON document instead of text.") var json = false

        func run() throws {
            do throws(AFSError) {
                let configuration = try location.configuration()
                let cache = try ContentCache(configuration)
                let before = cache.usage
                cache.clear()
                struct Cleared: Encodable {
                    var directory: String
                    var removedEntries: Int
                    var freedBytes: UInt64
                    enum CodingKeys: String, CodingKey {
                        case directory
                        case removedEntries = "removed_entries"
                        case freedBytes = "freed_bytes"
                    }
                }
                Output.emit(Cleared(directory: configuration.directory, removedEntries: before.entries, freedBytes: before.bytes), json: json) {
                    "removed \(before.entries) entries (\(Output.bytes(Int64(before.bytes)))) from \(configuration.directory)"
                }
            } catch {
                throw CLIError(error, json: json)
            }
        }
    }

    struct Prefetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a session's files (under PATH) into the cache before a mount reads them.",
            discussion: """
                Reads the session's file list in one call and downloads each content not cached yet (shared
                contents once). Progress goes to stderr when it is a terminal. With --store, run it before
                mounting: a mount holds the store while it runs.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: Location
        @Option(help: "Session whose files to fetch.") var session: String
        @Argument(help: "A directory or file inside the session (default: all of it).") var path: String = "/"

        func run() throws {
            try global.run { (store) throws(AFSError) in
                let (service, _) = try GlobalOptions.threadSafe(store)
                let cache = try ContentCache(try location.configuration())
                let showProgress = isatty(2) == 1
                let report = try CachePrefetcher(service: service, cache: cache).prefetch(session: session, under: path) { p in
                    guard showProgress else { return }
                    FileHandle.standardError.write(Data("\rprefetch: \(p.files)/\(p.totalFiles) contents, \(Output.bytes(Int64(p.bytes))) of \(Output.bytes(Int64(p.totalBytes)))   ".utf8))
                }
                if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
                global.emit(report) {
                    "\(report.files) files under \(report.path) (\(report.contents) contents, \(Output.bytes(Int64(report.bytes)))): fetched \(report.fetched) (\(Output.bytes(Int64(report.fetchedBytes)))), \(report.alreadyCached) already cached, in \(String(format: "%.1f", report.seconds)) s"
                }
            }
        }
    }
}

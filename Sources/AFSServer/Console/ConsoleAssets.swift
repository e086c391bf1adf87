import Foundation

/// The console's files (HTML, CSS, JavaScript), shipped as SwiftPM resources in `Assets/` and
/// read once at start. Plain files, no build step and no external network: the pages work on a
/// machine with no internet access.
struct ConsoleAssets: Sendable {
    struct Asset: Sendable {
        var body: Data
        var contentType: String
    }

    let files: [String: Asset]

    static let types = [
        "html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
        "svg": "image/svg+xml",
    ]

    /// Reads every file of the bundle's `Assets` folder; empty when the bundle is missing (the
    /// console then answers 503 saying so, the API is unaffected).
    static func load() -> ConsoleAssets {
        guard let folder = Bundle.module.url(forResource: "Assets", withExtension: nil),
            let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path)
        else { return ConsoleAssets(files: [:]) }
        var files: [String: Asset] = [:]
        for name in names {
            guard let data = FileManager.default.contents(atPath: folder.path + "/" + name) else { continue }
            let ext = (name as NSString).pathExtension
            files[name] = Asset(body: data, contentType: types[ext] ?? "application/octet-stream")
        }
        return ConsoleAssets(files: files)
    }

    subscript(name: String) -> Asset? { files[name] }
}

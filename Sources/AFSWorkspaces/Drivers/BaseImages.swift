import Foundation

/// The Debian base images on this host (`GUEST/bases/VERSION`, built by
/// scripts/build-workspace-base.sh): each a read-only `root.img` for QEMU and the same tree as
/// `rootfs/` for bubblewrap, shared by every workspace on that version.
///
/// A workspace records the version it was made on, so building a newer base (which moves
/// `current`) never changes what an existing workspace boots; `aether workspace update ID --image
/// current` rebases it.
public struct BaseImages: Sendable, Equatable {
    /// `GUEST/bases`.
    public var directory: String

    public init(directory: String) { self.directory = directory }

    /// The bare name that asks for no base (QEMU's busybox root, bubblewrap's host root).
    public static let minimal = "minimal"

    /// The version `current` points at, if a base was built.
    public var current: String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/current") else { return nil }
        let version = (target as NSString).lastPathComponent
        return isComplete(version) ? version : nil
    }

    /// Every complete version on the host, sorted by name.
    public var versions: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "current" && isComplete($0) }.sorted()
    }

    public func image(_ version: String) -> String { directory + "/" + version + "/root.img" }
    public func rootfs(_ version: String) -> String { directory + "/" + version + "/rootfs" }

    func isComplete(_ version: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: image(version)) && fm.fileExists(atPath: rootfs(version) + "/etc/debian_version")
            && fm.fileExists(atPath: directory + "/" + version + "/manifest.json")
    }

    /// The version a workspace asking for `requested` gets: nil asks for the current base when there
    /// is one (else no base), `current` requires one, `minimal` is no base, anything else must be a
    /// complete version on this host.
    public func resolve(_ requested: String?) throws(WorkspaceError) -> String? {
        switch requested {
        case nil:
            return current
        case BaseImages.minimal?:
            return nil
        case "current"?:
            guard let current else {
                throw WorkspaceError(.unavailable, "no base image in \(directory); build one with scripts/build-workspace-base.sh \((directory as NSString).deletingLastPathComponent)")
            }
            return current
        case let version?:
            guard !version.isEmpty, !version.contains("/"), !version.hasPrefix("."), isComplete(version) else {
                let have = versions
                throw WorkspaceError(
                    .notFound,
                    "no base image \(version) in \(directory) (\(have.isEmpty ? "none built; run scripts/build-workspace-base.sh" : "have: " + have.joined(separator: ", ") + ", current, minimal"))")
            }
            return version
        }
    }
}

import AFSTestSupport
import Foundation

/// The guest kernel + initramfs (scripts/build-guest-image.sh) and the Debian base image
/// (scripts/build-workspace-base.sh), built once per test process into one directory shared by
/// test runs (both scripts do nothing when their output is up to date). A failed build is a
/// failure, not a skip: the project's own scripts install everything they need.
enum GuestImages {
    static let directory = ProcessInfo.processInfo.environment["AFS_GUEST_DIR"] ?? "/var/tmp/afs-guest"

    static var root: String {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        return root.path
    }

    private static let built: Result<String, GuestImageError> = {
        for script in ["build-guest-image.sh", "build-workspace-base.sh"] {
            do {
                let r = try ChildProcess.run("/bin/bash", [root + "/scripts/" + script, directory], mergeStderr: true)
                guard r.status == 0 else {
                    return .failure(GuestImageError(description: "\(script) failed (\(r.status)): \(String(decoding: r.stdout, as: UTF8.self).suffix(800))"))
                }
            } catch {
                return .failure(GuestImageError(description: "cannot run \(script): \(error)"))
            }
        }
        return .success(directory)
    }()

    /// The guest directory, built.
    static func guestDirectory() throws -> String { try built.get() }

    /// The version `bases/current` names.
    static func currentBase() throws -> String {
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: try guestDirectory() + "/bases/current")
        return (target as NSString).lastPathComponent
    }
}

struct GuestImageError: Error, CustomStringConvertible {
    let description: String
}

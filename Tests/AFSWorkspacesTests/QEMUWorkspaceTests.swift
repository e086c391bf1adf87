import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// afs-vmd with the QEMU driver: a real microVM (KVM if the canary boots, TCG otherwise) from the
/// guest image scripts/build-guest-image.sh builds out of Debian packages.
@Suite(.serialized, .offCooperativePool) struct QEMUWorkspaceTests {
    static let qemu: String? = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Builds (or reuses) the guest image; a failure here is a failure, not a skip.
    static func guestImage() throws -> String {
        let dir = ProcessInfo.processInfo.environment["AFS_GUEST_DIR"] ?? "/var/tmp/afs-guest"
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let script = root.path + "/scripts/build-guest-image.sh"
        let r = try ChildProcess.run("/bin/bash", [script, dir], mergeStderr: true)
        guard r.status == 0 else {
            throw GuestImageError(description: "build-guest-image.sh failed (\(r.status)): \(String(decoding: r.stdout, as: UTF8.self).suffix(800))")
        }
        return dir
    }

    @Test(.enabled(if: QEMUWorkspaceTests.qemu != nil, "qemu-system-x86_64 is not installed (scripts/bootstrap.sh installs qemu-system-x86)"))
    func microVMLifecycle() throws {
        let guest = try QEMUWorkspaceTests.guestImage()
        let vmd = try VMDProcess(arguments: ["--driver", "qemu", "--guest-dir", guest])
        defer { vmd.cleanup() }
        #expect(vmd.banner.contains("driver: qemu ("), "\(vmd.banner)")
        try lifecycleScenario(WorkspaceCLI(vmd: vmd), startTimeout: 180)
    }

    /// /workspace inside the VM is the workspace's fork, through virtiofsd over the host's FUSE mount.
    @Test(
        .enabled(if: QEMUWorkspaceTests.qemu != nil, "qemu-system-x86_64 is not installed (scripts/bootstrap.sh installs qemu-system-x86)"),
        .enabled(if: MountAvailability.problem == nil, Comment(rawValue: MountAvailability.problem ?? "")))
    func projectFilesOverVirtiofs() throws {
        let guest = try QEMUWorkspaceTests.guestImage()
        let project = try ProjectServer()
        defer { project.server.cleanup() }
        // The canary ran in the lifecycle test; this one names the accelerator.
        let vmd = try VMDProcess(arguments: ["--driver", "qemu", "--guest-dir", guest, "--accel", "tcg"] + project.vmdArguments)
        defer { vmd.cleanup() }
        try projectFilesScenario(WorkspaceCLI(vmd: vmd), project, startTimeout: 180)
    }
}

struct GuestImageError: Error, CustomStringConvertible {
    let description: String
}

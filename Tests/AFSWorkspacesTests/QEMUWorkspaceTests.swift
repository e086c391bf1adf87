import AFSTestSupport
import AFSWorkspaces
import Foundation
import Testing

/// afs-vmd with the QEMU driver: a real microVM (KVM if the canary boots, TCG otherwise) from the
/// guest image scripts/build-guest-image.sh builds out of Debian packages, on the Debian base image
/// scripts/build-workspace-base.sh builds (or, where a test asks, the minimal busybox root).
@Suite(.serialized, .offCooperativePool) struct QEMUWorkspaceTests {
    static let qemu: String? = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: QEMUWorkspaceTests.qemu != nil, "qemu-system-x86_64 is not installed (scripts/bootstrap.sh installs qemu-system-x86)"))
    func microVMLifecycle() throws {
        let guest = try GuestImages.guestDirectory()
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
        let guest = try GuestImages.guestDirectory()
        let project = try ProjectServer()
        defer { project.server.cleanup() }
        // The canary ran in the lifecycle test; this one names the accelerator.
        let vmd = try VMDProcess(arguments: ["--driver", "qemu", "--guest-dir", guest, "--accel", "tcg"] + project.vmdArguments)
        defer { vmd.cleanup() }
        try projectFilesScenario(WorkspaceCLI(vmd: vmd), project, startTimeout: 180)
    }

    /// The Debian base makes the VM a full Linux machine that stores only its changes.
    @Test(.enabled(if: QEMUWorkspaceTests.qemu != nil, "qemu-system-x86_64 is not installed (scripts/bootstrap.sh installs qemu-system-x86)"))
    func debianWorkspaceIsAFullLinuxMachine() throws {
        let guest = try GuestImages.guestDirectory()
        let base = try GuestImages.currentBase()
        let vmd = try VMDProcess(arguments: ["--driver", "qemu", "--guest-dir", guest, "--accel", "tcg"])
        defer { vmd.cleanup() }
        try fullLinuxScenario(
            WorkspaceCLI(vmd: vmd), guest: guest, base: base, baseBytes: try FullLinux.allocatedBytes(guest + "/bases/\(base)/root.img"), startTimeout: 180)
    }

    /// A workspace without a base (as every workspace made before base images is) still boots the
    /// minimal busybox root with today's initramfs, and `update --image current` rebases it onto the
    /// base with its changes kept.
    @Test(.enabled(if: QEMUWorkspaceTests.qemu != nil, "qemu-system-x86_64 is not installed (scripts/bootstrap.sh installs qemu-system-x86)"))
    func minimalRootBootsAndRebasesOntoTheBase() throws {
        let guest = try GuestImages.guestDirectory()
        let base = try GuestImages.currentBase()
        let vmd = try VMDProcess(arguments: ["--driver", "qemu", "--guest-dir", guest, "--accel", "tcg"])
        defer { vmd.cleanup() }
        let cli = WorkspaceCLI(vmd: vmd)
        let ws = try cli.workspace(["create", "--project", "old", "--image", "minimal", "--cpus", "1", "--memory", "512", "--volume-size", "1"])
        #expect(ws.image == nil && ws.user == nil)
        _ = try cli.workspace(["start", ws.id, "--timeout", "180"])
        let (_, minimal) = try cli.ssh(ws.id, "id -un; cat /run/afs/base; command -v apt-get || echo no-apt; echo kept > /root/old-note.txt; sync")
        #expect(minimal.contains("root\nminimal\nno-apt"), "\(minimal)")
        let refused = try cli.run(["update", ws.id, "--image", "current"])
        #expect(refused.status == 4, "the image changes only while stopped: \(refused)")
        _ = try cli.workspace(["stop", ws.id])
        let unknown = try cli.run(["update", ws.id, "--image", "debian-12-nosuch"])
        #expect(unknown.status == 3 && String(decoding: unknown.stderr, as: UTF8.self).contains(base), "an unknown version is refused, naming the ones there are: \(unknown)")
        let rebased = try cli.workspace(["update", ws.id, "--image", "current"])
        #expect(rebased.image == base && rebased.user == "aether", "\(rebased)")
        #expect(try cli.events(ws.id).last?.detail?.contains("image minimal -> \(base)") == true)
        _ = try cli.workspace(["start", ws.id, "--timeout", "180"])
        let (status, now) = try cli.ssh(ws.id, "id -un; cat /usr/share/aether/base; apt-get --version | head -n1; sudo -n cat /root/old-note.txt")
        #expect(status == 0 && now.contains("aether\n\(base)\napt 2.") && now.contains("kept"), "\(now)")
        #expect(try cli.ok(["logs", ws.id]).contains("AFS_BASE rebased from minimal to \(base)"))
        try cli.ok(["delete", ws.id, "--yes"])
    }
}

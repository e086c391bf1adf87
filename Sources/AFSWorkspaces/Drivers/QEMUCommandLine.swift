import Foundation

/// The QEMU invocation of a workspace microVM, as a pure value so it can be tested and shown.
///
/// Choices that matter on these hosts (see Docs/ARCHITECTURE.md §18): `microvm` with virtio-mmio
/// forced to non-legacy (vhost-user refuses legacy), `tsc_early_khz` on the kernel command line
/// (TCG otherwise hangs calibrating against the PIT), serial console to a file, QMP and the agent
/// on unix sockets in the run directory, `-daemonize` so the VM outlives the controller.
struct QEMUCommandLine {
    var binary = "qemu-system-x86_64"
    var name: String
    var accelerator: String
    var cpus: Int
    var memoryMB: Int
    var kernel: String
    var initrd: String
    var runDirectory: String
    var volume: String?
    /// The shared base image, attached read-only (the guest finds it by its label, afsbase).
    var base: String? = nil
    /// The workspace's non-root user (`afs.user`); the guest makes it at first boot.
    var user: String? = nil
    var sshPort: Int?
    var sshPublicKey: String?
    var shareSocket: String?
    var tscKHz: Int

    /// The guest's hostname: the workspace id.
    var hostname: String { name.hasPrefix("aether-ws-") ? String(name.dropFirst("aether-ws-".count)) : name }

    var kernelCommandLine: String {
        // tsc=reliable: TCG's TSC otherwise fails the clocksource watchdog and the guest falls back
        // to jiffies (4 ms resolution, ticks lost under load).
        var parts = ["console=ttyS0", "panic=-1", "quiet", "tsc_early_khz=\(tscKHz)", "tsc=reliable", "afs.hostname=\(hostname)"]
        if let key = sshPublicKey { parts.append("afs.sshkey=" + Data(key.utf8).base64EncodedString()) }
        if let user { parts.append("afs.user=\(user)") }
        return parts.joined(separator: " ")
    }

    var arguments: [String] {
        var a = [
            binary, "-name", name, "-accel", accelerator, "-smp", String(cpus), "-m", String(memoryMB),
            // -no-reboot: a guest panic or reboot ends QEMU, which the controller sees, instead of a loop.
            "-nodefaults", "-no-user-config", "-no-reboot", "-global", "virtio-mmio.force-legacy=off", "-display", "none",
            "-daemonize", "-pidfile", runDirectory + "/qemu.pid", "-serial", "file:" + runDirectory + "/console.log",
            "-kernel", kernel, "-initrd", initrd, "-append", kernelCommandLine,
        ]
        // `max` under TCG: user space boots faster than on the default model and gets x86-64-v3.
        a += ["-cpu", accelerator == "kvm" ? "host,-arch-capabilities" : "max"]
        if let volume {
            a += ["-drive", "id=vol,file=\(volume),format=raw,if=none,cache=none,aio=threads,discard=unmap", "-device", "virtio-blk-device,drive=vol"]
        }
        if let base {
            // readonly: QEMU opens the file read-only and takes a shared lock, so every workspace on
            // this base attaches the same file at once and none can write it.
            a += ["-drive", "id=base,file=\(base),format=raw,if=none,readonly=on,aio=threads", "-device", "virtio-blk-device,drive=base"]
        }
        let forward = sshPort.map { ",hostfwd=tcp:127.0.0.1:\($0)-:22" } ?? ""
        a += ["-netdev", "user,id=n0" + forward, "-device", "virtio-net-device,netdev=n0"]
        a += [
            "-device", "virtio-serial-device",
            "-chardev", "socket,id=ag,path=\(runDirectory)/agent.sock,server=on,wait=off",
            "-device", "virtserialport,chardev=ag,name=org.aether.agent",
            "-qmp", "unix:\(runDirectory)/qmp.sock,server=on,wait=off",
        ]
        var machine = "microvm"
        if let shareSocket {
            // vhost-user needs guest memory the daemon can map: a shared memfd backend.
            machine += ",memory-backend=mem"
            a += [
                "-object", "memory-backend-memfd,id=mem,size=\(memoryMB)M,share=on",
                "-chardev", "socket,id=vfs,path=\(shareSocket)",
                "-device", "vhost-user-fs-device,chardev=vfs,tag=ws",
            ]
        }
        return a + ["-M", machine]
    }

    /// The host's TSC rate from /proc/cpuinfo, or the value that worked in the lab.
    static func hostTSCKHz() -> Int {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return 2_600_000 }
        for line in info.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), value > 100 {
                return Int(value * 1000)
            }
        }
        return 2_600_000
    }
}

import AFSMountControl
import AFSSupport
import FoundationEssentials
import Glibc

// git's fsmonitor hook, protocol version 2: `aether-fsmonitor VERSION TOKEN`, run by git in the
// work tree. Prints the token and the changed paths (NUL-ended) and exits 0; on any failure it
// prints why on stderr and exits 1, and git checks every file as if there were no monitor.

/// Writes all of `bytes` to `fd` (the one such loop, AFSSupport's); false if the descriptor refuses them.
func emit(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { Command.writeAll(fd, $0) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    _ = emit(2, Array(message.utf8))
    exit(status)
}

let usage = """
    usage: aether-fsmonitor VERSION [TOKEN]
    git's file-system monitor hook (protocol version 2) for repositories on an `aether mount`: git runs it
    in the work tree before it looks at files, and it prints the changefeed token and the paths changed
    since TOKEN, each ended by NUL. Set it up with `aether fsmonitor enable DIR`. Exit status 1 (with the
    reason on stderr) makes git check every file, as without a monitor.

    """
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments == ["--help"] || arguments == ["-h"] {
    _ = emit(1, Array(usage.utf8))
    exit(0)
}
guard arguments.count == 1 || arguments.count == 2, let version = Int(arguments[0]) else {
    fail(usage, status: 2)
}
guard let resolved = realpath(".", nil) else {
    fail("aether-fsmonitor: cannot resolve the working directory: \(String(cString: strerror(errno)))\n")
}
let workTree = String(cString: resolved)
free(resolved)
// The one variable the registry's place depends on, read with getenv rather than by building
// `ProcessInfo.environment` whole: cheaper at every `git status`, and the ThreadSanitizer build of
// this statically linked hook aborts inside that getter (an allocator CHECK freeing its copy).
let runtimeDirectory = getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
do {
    let output = try FSMonitorQuery.answer(
        version: version, token: arguments.count == 2 ? arguments[1] : "", workTree: workTree,
        registry: MountSockets.directory(environment: runtimeDirectory.map { ["XDG_RUNTIME_DIR": $0] } ?? [:]))
    guard emit(1, output) else { fail("aether-fsmonitor: cannot write the answer: \(String(cString: strerror(errno)))\n") }
} catch {
    fail("aether-fsmonitor: \(error.message)\n")
}

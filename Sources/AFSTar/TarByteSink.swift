import Foundation

/// A forward-only byte consumer. `write` must consume the whole buffer or throw.
package protocol TarByteSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}


/// Largest single read(2)/write(2) request issued by the fd-backed types.
let maxSyscallLength = 1 << 30


func sysRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}


func sysWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}


func errnoDescription(_ code: Int32) -> String {
    if let cString = strerror(code) {
        return String(cString: cString) + " (errno \(code))"
    }
    return "errno \(code)"
}

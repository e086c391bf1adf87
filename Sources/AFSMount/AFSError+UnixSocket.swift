import AFSCore
import AFSSupport
import Glibc

extension AFSError {
    /// A failure of the mount's control socket, with what to do about it.
    init(controlSocket failure: UnixSocket.Failure) {
        switch (failure.call, failure.code) {
        case (_, ENAMETOOLONG):
            self.init(
                .invalidArgument,
                "control socket path \(failure.path) is longer than \(UnixSocket.maxPathBytes) bytes; set XDG_RUNTIME_DIR to a shorter directory")
        case ("connect", ECONNREFUSED), ("connect", ENOENT):
            self.init(.unavailable, "cannot connect to the mount's control socket \(failure.path): \(String(cString: strerror(failure.code))) (is the mount still running?)")
        case ("read", EMSGSIZE):
            self.init(.invalidArgument, "a control message longer than the limit (\(failure.path))")
        default:
            self.init(.io, "the mount's control socket: \(failure)")
        }
    }
}

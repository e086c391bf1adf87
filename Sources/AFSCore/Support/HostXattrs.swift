import CSystemExtras
import Glibc

/// Reads the `user.` extended attributes of a host file without following symlinks
/// (`llistxattr`/`lgetxattr`), for imports. The only place AFSCore calls the xattr syscalls;
/// public so that tools and tests compare host trees with sessions the same way.
public enum HostXattrs {
    /// Every `user.` attribute of `path`; empty where the file system has none or does not
    /// support them (`ENOTSUP`), as for a file on tmpfs without xattr support.
    public static func read(_ path: String) throws(AFSError) -> [String: [UInt8]] {
        var size = llistxattr(path, nil, 0)
        if size < 0 {
            if errno == ENOTSUP || errno == ENODATA { return [:] }
            throw AFSError.io("llistxattr", path: path)
        }
        if size == 0 { return [:] }
        var names = [CChar](repeating: 0, count: size)
        size = llistxattr(path, &names, names.count)
        guard size >= 0 else { throw AFSError.io("llistxattr", path: path) }
        var out: [String: [UInt8]] = [:]
        for raw in names[0..<size].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard name.hasPrefix("user.") else { continue }
            let length = lgetxattr(path, name, nil, 0)
            if length < 0 {
                if errno == ENODATA { continue }  // removed between the two calls
                throw AFSError.io("lgetxattr \(name)", path: path)
            }
            var value = [UInt8](repeating: 0, count: length)
            let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, length) }
            guard got >= 0 else { throw AFSError.io("lgetxattr \(name)", path: path) }
            out[name] = Array(value[0..<got])
        }
        return out
    }
}

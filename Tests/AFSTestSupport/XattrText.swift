import AFSCore

/// The `user.` extended attributes of a host path (not following links) as one comparable string,
/// "name=[bytes];…" sorted by name ("?" when they cannot be read): how the differential and
/// round-trip tests compare host entries.
public func userXattrText(_ path: String) -> String {
    guard let all = try? HostXattrs.read(path) else { return "?" }
    return all.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ";")
}

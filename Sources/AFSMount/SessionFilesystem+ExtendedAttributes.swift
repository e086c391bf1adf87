import AFSClient
import AFSCore
import Foundation
import Synchronization

extension SessionFilesystem {
    // MARK: Extended attributes

    /// The one namespace stored; others (`security.`, `system.`, `trusted.`) carry kernel
    /// semantics a session cannot honour.
    static func storesXattr(_ name: String) -> Bool { name.hasPrefix("user.") }

    /// The value of one extended attribute (`ENODATA` when absent).
    public func extendedAttribute(path: String, name: String) throws(Errno) -> [UInt8] {
        guard SessionFilesystem.storesXattr(name) else {
            _ = try attributes(path: path)
            throw Errno.noAttribute
        }
        if let file = openFile(at: path), file.state.withLock({ $0.remote == nil }) { throw Errno.noAttribute }
        let all = try call("getxattr", path) { () throws(AFSError) in try service.extendedAttributes(session, path: path) }
        guard let value = all[name] else { throw Errno.noAttribute }
        return value
    }

    /// Names of the entry's extended attributes.
    public func extendedAttributeNames(path: String) throws(Errno) -> [String] {
        if let file = openFile(at: path), file.state.withLock({ $0.remote == nil }) { return [] }
        let all = try call("listxattr", path) { () throws(AFSError) in try service.extendedAttributes(session, path: path) }
        return all.keys.sorted()
    }

    /// `setxattr`; `flags` are `XATTR_CREATE` (1) and `XATTR_REPLACE` (2).
    public func setExtendedAttribute(path: String, name: String, value: [UInt8], flags: Int32) throws(Errno) {
        guard SessionFilesystem.storesXattr(name) else { throw Errno.notSupported }
        guard name.utf8.count <= EntryAttributes.maxNameBytes, name.utf8.count > 5 else { throw Errno.range }
        guard value.count <= EntryAttributes.maxValueBytes else { throw Errno.tooBig }
        let disposition: AetherStore.XattrDisposition = flags & 1 != 0 ? .create : flags & 2 != 0 ? .replace : .any
        try changeAttributes(path, "setxattr") { () throws(AFSError) in
            try service.setExtendedAttribute(session, path: path, name: name, value: value, disposition: disposition, context: context)
        }
    }

    public func removeExtendedAttribute(path: String, name: String) throws(Errno) {
        guard SessionFilesystem.storesXattr(name) else { throw Errno.noAttribute }
        try changeAttributes(path, "removexattr") { () throws(AFSError) in
            try service.removeExtendedAttribute(session, path: path, name: name, context: context)
        }
    }

    /// Runs an extended-attribute change, publishing a never-uploaded open file first, and maps
    /// the service's answers to xattr errnos (absent → `ENODATA`, over the entry's limit → `ENOSPC`).
    func changeAttributes(_ path: String, _ what: String, _ body: () throws(AFSError) -> Void) throws(Errno) {
        try writeBack.perform([path]) { () throws(Errno) in
            if let file = openFile(at: path) {
                try file.transfer.withLock { _ throws(Errno) in
                    try publishIfNew(file)
                    try runAttributeChange(path, what, body)
                    refreshRemote(file)
                }
            } else {
                try runAttributeChange(path, what, body)
            }
        }
        metadata.invalidate(path)
    }

    func runAttributeChange(_ path: String, _ what: String, _ body: () throws(AFSError) -> Void) throws(Errno) {
        do throws(AFSError) {
            try body()
        } catch {
            switch error.code {
            case .notFound where error.message.hasPrefix("extended attribute"): throw Errno.noAttribute
            case .invalidArgument where error.message.contains("would take"): throw Errno.noSpace
            default:
                let mapped = Errno(error)
                if mapped != .notFound { log("\(what) \(path): \(error.message) → \(mapped)") }
                throw mapped
            }
        }
    }


    /// `path` was created, removed or renamed through this mount: drops what is cached of it and
    /// moves its parent's cached times, as the service moved them.
    func entryChanged(_ path: String) {
        metadata.invalidate(path)
        metadata.touchParent(of: path, at: OpenFile.now())
    }
}

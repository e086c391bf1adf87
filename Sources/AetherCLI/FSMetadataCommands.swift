import AFSClient
import AFSCore
import ArgumentParser
import Foundation

extension FSCommand {
    struct Mknod: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a FIFO, socket or device node (metadata only: nothing is opened through it).",
            discussion: "Example: aether fs mknod ID /run/app.sock socket; aether fs mknod ID /dev/null char-device --major 1 --minor 3")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path (its parent must exist).") var path: String
        @Argument(help: "fifo, socket, char-device or block-device.") var kind: String
        @Option(help: "Permission bits, octal (default 644).") var mode: String = "644"
        @Option(help: "Device major number (device nodes).") var major: UInt32 = 0
        @Option(help: "Device minor number (device nodes).") var minor: UInt32 = 0

        func run() throws {
            guard let entryKind = EntryKind(rawValue: kind), entryKind.isSpecial else {
                throw ValidationError("kind must be fifo, socket, char-device or block-device, not \(kind)")
            }
            guard let bits = UInt32(mode, radix: 8), bits <= 0o7777 else { throw ValidationError("mode must be octal permission bits (e.g. 640)") }
            try global.run { (store) throws(AFSError) in
                try store.makeNode(
                    id, path: path, kind: entryKind, mode: bits, rdev: DeviceNumber.make(major: major, minor: minor), context: global.context())
                global.emit(try store.stat(id, path: path)) { "" }
            }
        }
    }

    struct Chown: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a numeric owner and/or group (UID, UID:GID or :GID), as chown does; set-id bits are cleared.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "UID, UID:GID or :GID (numbers).") var owner: String
        @Argument(help: "Path.") var path: String

        func run() throws {
            let parts = owner.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count) else { throw ValidationError("owner must be UID, UID:GID or :GID") }
            func number(_ s: Substring) throws -> UInt32? {
                if s.isEmpty { return nil }
                guard let n = UInt32(s) else { throw ValidationError("owner and group are numbers (uid/gid), not \(s)") }
                return n
            }
            let uid = try number(parts[0])
            let gid = parts.count == 2 ? try number(parts[1]) : nil
            guard uid != nil || gid != nil else { throw ValidationError("give a uid, a gid or both") }
            try global.run { (store) throws(AFSError) in
                try store.setOwner(id, path: path, uid: uid, gid: gid, context: global.context())
                global.emit(try store.stat(id, path: path)) { "" }
            }
        }
    }

    /// `--json` shape of `fs xattr`: values in base64 (they are bytes), as the HTTP API gives them.
    struct XattrList: Encodable {
        var path: String
        var xattrs: [String: String]
    }

    struct Xattr: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, read, set or remove extended attributes (user. namespace).",
            discussion: """
                aether fs xattr ID PATH                 lists names and values (values as text when UTF-8, else base64)
                aether fs xattr ID PATH --get NAME      prints one value (raw bytes)
                aether fs xattr ID PATH --set NAME=VALUE
                aether fs xattr ID PATH --remove NAME
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Session ID.") var id: String
        @Argument(help: "Path.") var path: String
        @Option(help: ArgumentHelp("Print one attribute's value.", valueName: "NAME")) var get: String?
        @Option(help: ArgumentHelp("Set an attribute (the value as UTF-8 text).", valueName: "NAME=VALUE")) var set: String?
        @Option(help: ArgumentHelp("Remove an attribute.", valueName: "NAME")) var remove: String?

        func validate() throws {
            guard [get, set, remove].compactMap({ $0 }).count <= 1 else { throw ValidationError("give at most one of --get, --set and --remove") }
        }

        func run() throws {
            try global.run { (store) throws(AFSError) in
                if let set {
                    guard let equals = set.firstIndex(of: "=") else { throw AFSError(.invalidArgument, "--set takes NAME=VALUE") }
                    try store.setExtendedAttribute(
                        id, path: path, name: String(set[..<equals]), value: Array(set[set.index(after: equals)...].utf8), disposition: .any,
                        context: global.context())
                } else if let remove {
                    try store.removeExtendedAttribute(id, path: path, name: remove, context: global.context())
                }
                let values = try store.extendedAttributes(id, path: path)
                if let get {
                    guard let value = values[get] else { throw AFSError(.notFound, "\(path) has no extended attribute \(get)") }
                    if global.json {
                        global.emit(["name": get, "value": Data(value).base64EncodedString()]) { "" }
                    } else {
                        FileHandle.standardOutput.write(Data(value))
                    }
                    return
                }
                let encoded = values.mapValues { Data($0).base64EncodedString() }
                global.emit(XattrList(path: path, xattrs: encoded)) {
                    values.keys.sorted().map { name in
                        let value = values[name]!
                        let text = String(validating: value, as: UTF8.self).map { "\"\($0)\"" } ?? "base64:" + Data(value).base64EncodedString()
                        return "\(name)=\(text)"
                    }.joined(separator: "\n")
                }
            }
        }
    }
}

import AFSCore

/// Named JSON schemas (OpenAPI 3.1, i.e. JSON Schema 2020-12) for response bodies that describe
/// entries of a session: what `stat`, `tree`, `manifest` and `diff` return.
///
/// `additionalProperties: false` makes each schema exact, and the server tests validate the
/// routes' real JSON against it, so a field added to a wire type without being documented here
/// fails a test. Enumerations come from the Swift types (``EntryKind/allCases``), so a new kind
/// is documented the moment it exists.
enum WireSchemas {
    static func integer(_ description: String) -> [String: Any] { ["type": "integer", "minimum": 0, "description": description] }
    static func string(_ description: String) -> [String: Any] { ["type": "string", "description": description] }

    static var entryKind: [String: Any] {
        [
            "type": "string", "enum": EntryKind.allCases.map(\.rawValue),
            "description": "What an entry is. fifo, socket, char-device and block-device are metadata only (a device's numbers are in rdev).",
        ]
    }

    /// Fields every entry description shares (POSIX metadata; absent ones were never recorded).
    static var metadata: [String: Any] {
        [
            "kind": ["$ref": "#/components/schemas/EntryKind"],
            "mode": integer("Permission bits (st_mode & 07777), set-id and sticky bits included."),
            "size": integer("Bytes of a file, length of a symlink's target, 0 otherwise."),
            "mtime": integer("Modification time, nanoseconds since 1970."),
            "uid": integer("Numeric owner; absent: whoever mounts the session."),
            "gid": integer("Numeric group; absent: whoever mounts the session."),
            "ctime": integer("Change time (metadata or content), nanoseconds since 1970."),
            "atime": integer("Access time, nanoseconds since 1970, when recorded."),
            "rdev": integer("Device number (Linux encoding) of a char-device or block-device."),
            "inode": integer("Inode number, kept across renames; hard links share one."),
            "nlink": integer("Number of names of a hard-linked file."),
        ]
    }

    static func object(_ required: [String], _ properties: [String: Any], _ description: String) -> [String: Any] {
        ["type": "object", "description": description, "required": required, "properties": properties, "additionalProperties": false]
    }

    static var all: [String: Any] {
        var stat = metadata
        stat["path"] = string("Absolute path in the session.")
        stat["content_id"] = string("SHA-256 of a file's bytes (hex).")
        stat["target"] = string("A symlink's target.")
        stat["xattrs"] = ["type": "array", "items": ["type": "string"], "description": "Names of the entry's user. extended attributes."]
        var tree = metadata
        tree["path"] = string("Absolute path in the session.")
        tree["name"] = string("The entry's name in its directory.")
        let manifest: [String: Any] = [
            "path": string("Absolute path in the session."),
            "kind": ["$ref": "#/components/schemas/EntryKind"],
            "size": integer("Bytes of a file, length of a symlink's target, 0 otherwise."),
            "mode": integer("Permission bits."),
            "content_id": string("SHA-256 of a file's bytes (hex)."),
            "target": string("A symlink's target."),
            "uid": integer("Numeric owner, when recorded."),
            "gid": integer("Numeric group, when recorded."),
            "rdev": integer("Device number of a char-device or block-device."),
        ]
        return [
            "EntryKind": entryKind,
            "FileStat": object(["path", "kind", "mode", "size", "mtime"], stat, "One path of a session (GET …/stat/{path})."),
            "TreeEntry": object(["path", "name", "kind", "mode", "size", "mtime"], tree, "One entry of a directory listing (GET …/tree)."),
            "ManifestEntry": object(["path", "kind", "size", "mode"], manifest, "One non-directory entry of a session's manifest."),
            "DiffEntry": object(
                ["path", "change", "kind"],
                [
                    "path": string("Absolute path in the session."),
                    "change": ["type": "string", "enum": ["added", "modified", "deleted"]],
                    "kind": ["$ref": "#/components/schemas/EntryKind"],
                ], "One changed path of a diff."),
        ]
    }
}

import AFSCore

/// `POST /v1/sessions`: a new session, named or not, from a source.
public struct CreateSessionRequest: WireModel, Equatable {
    /// Where a new session's tree comes from. Which fields a kind needs: `directory`, `tar` and
    /// `git` a server-side `path` (server admin only; clients upload tars to `/v1/sessions/import`),
    /// `git` also a `ref`; `session`, `checkpoint` and `commit` an `id`; `snapshot` a `name`.
    public struct Source: WireModel, Equatable {
        public enum Kind: String, WireEnum {
            case blank, directory, tar, git, session, checkpoint, commit, snapshot

            public static var wireName: String { "SessionSourceKind" }
        }

        public var kind: Kind
        public var path: String?
        public var ref: String?
        public var id: String?
        public var name: String?

        public init(kind: Kind, path: String? = nil, ref: String? = nil, id: String? = nil, name: String? = nil) {
            self.kind = kind
            self.path = path
            self.ref = ref
            self.id = id
            self.name = name
        }

        public static var wireName: String { "SessionSource" }
    }

    public var name: String?
    public var source: Source

    public init(name: String? = nil, source: Source) {
        self.name = name
        self.source = source
    }

    public static var wireDescription: String { "A new session, named or not, from a source." }
}

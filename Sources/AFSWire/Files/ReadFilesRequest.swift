import AFSCore

/// `POST /v1/sessions/{id}/read`: many files in one response, a tar stream of those that exist
/// (one version of the session for all of them).
public struct ReadFilesRequest: WireModel, Equatable {
    /// Paths in the session, in the order the archive returns them; at most `AetherStore.readFilesLimit`.
    public var paths: [String]

    public init(paths: [String]) {
        self.paths = paths
    }

    public static var wireDescription: String {
        "The files to read. The answer is a pax tar archive of the regular files among them, in the order given, each named by its path without the leading slash; paths that name nothing or no regular file are left out."
    }
    public static var wireFieldDescriptions: [String: String] {
        ["paths": "Paths in the session (at most \(AetherStore.readFilesLimit)); one malformed path fails the request."]
    }
}

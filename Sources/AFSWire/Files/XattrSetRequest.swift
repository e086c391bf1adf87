import AFSCore

/// `POST /v1/sessions/{id}/xattrs`: one extended attribute (user. namespace).
public struct XattrSetRequest: WireModel, Equatable {
    public var path: String
    public var name: String
    /// The value's bytes in base64.
    public var value: String
    public var disposition: AetherStore.XattrDisposition?
    public init(path: String, name: String, value: String, disposition: AetherStore.XattrDisposition? = nil) {
        self.path = path
        self.name = name
        self.value = value
        self.disposition = disposition
    }
}

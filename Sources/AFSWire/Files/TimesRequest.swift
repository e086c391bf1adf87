/// `POST /v1/sessions/{id}/times`: nanoseconds since 1970, as `stat` reports them; at least one.
public struct TimesRequest: WireModel, Equatable {
    public var path: String
    public var mtime: Int64?
    public var atime: Int64?
    public init(path: String, mtime: Int64? = nil, atime: Int64? = nil) {
        self.path = path
        self.mtime = mtime
        self.atime = atime
    }
}

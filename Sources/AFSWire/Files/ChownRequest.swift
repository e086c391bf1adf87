/// `POST /v1/sessions/{id}/chown`: a numeric owner and/or group.
public struct ChownRequest: WireModel, Equatable {
    public var path: String
    public var uid: UInt32?
    public var gid: UInt32?
    public init(path: String, uid: UInt32? = nil, gid: UInt32? = nil) {
        self.path = path
        self.uid = uid
        self.gid = gid
    }
}

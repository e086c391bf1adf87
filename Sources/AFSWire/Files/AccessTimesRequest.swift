/// `POST /v1/sessions/{id}/atimes`: path → access time (nanoseconds since 1970), moved forward only.
public struct AccessTimesRequest: WireModel, Equatable {
    public var atimes: [String: Int64]
    public init(atimes: [String: Int64]) { self.atimes = atimes }
}

/// How many access times `POST /v1/sessions/{id}/atimes` moved.
public struct AccessTimesReply: WireModel, Equatable {
    public var moved: Int
    public init(moved: Int) { self.moved = moved }
}

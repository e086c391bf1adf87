/// A caller's role within its tenant: each role may do what the ones below it may.
public enum Role: String, WireEnum, Comparable {
    case reader, writer, admin

    private var rank: Int { self == .reader ? 0 : self == .writer ? 1 : 2 }
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}

/// What the user asked for last; the controller works to make the observed status match it.
public enum DesiredState: String, Sendable, Codable, CaseIterable {
    case running
    case stopped
}

import Foundation

/// One line of a diff.
public struct DiffEntry: Sendable, Codable, Equatable {
    public enum Change: String, Sendable, Codable, CaseIterable { case added, modified, deleted }
    public var path: String
    public var change: Change
    public var kind: EntryKind
}

import GRDB

extension Database {
    /// Runs one SQL statement through the connection's statement cache: SQLite compiles it once
    /// per connection and every later call only binds and steps it. Compiling the SQL text again
    /// on every call was over a third of a fork's instructions (Docs/perf/profiles.md §1).
    /// For fixed statements only: each distinct text stays cached for the connection's life.
    package func execute(cached sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

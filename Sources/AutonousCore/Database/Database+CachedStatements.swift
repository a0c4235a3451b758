import GRDB

extension Database {
    /// Executes one statement through the connection's statement cache: the SQL is compiled (and passed through
    /// GRDB's authorizer) once per connection instead of at every call. For the statements of every agent step;
    /// `sql` must be one statement whose text does not vary with the values (those go in `arguments`).
    func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

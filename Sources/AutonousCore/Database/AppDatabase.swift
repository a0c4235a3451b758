import Foundation
import GRDB

/// The one SQLite database of a state directory: WAL, a busy timeout, and the schema migrations.
///
/// The supervisor and the worker open the same file; both run the migrator, which applies what is missing inside one
/// write transaction, so whichever starts first migrates and the other finds nothing to do.
public final class AppDatabase: Sendable {
    /// The pool every repository reads and writes through.
    public let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and migrates it.
    ///
    /// - Throws: `AutonousError` with code `.database` naming the path when the file cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.label = "autonous"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw AutonousError(.database, "cannot open the database \(path)", cause: error)
        }
    }

    /// Milliseconds since the Unix epoch, the time unit of every `*_ms` column.
    public static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}

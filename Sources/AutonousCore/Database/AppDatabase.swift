import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// The one SQLite database of a state directory: WAL, a busy timeout, and the schema migrations.
///
/// The supervisor and the worker (and `autonousctl`, tests, operators' sqlite3) open the same file. GRDB's migrator
/// decides what to apply before it takes SQLite's write lock, so two processes migrating at once could both try
/// the same CREATE TABLE; an flock on `<path>.migrate-lock` makes migration one process at a time, and the second
/// finds nothing left to do.
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
            try Self.withMigrationLock(path: path) { try Self.migrator.migrate(pool) }
        } catch {
            throw AutonousError(.database, "cannot open the database \(path)", cause: error)
        }
    }

    /// Runs `body` holding an exclusive flock shared by every process that opens this database.
    static func withMigrationLock(path: String, _ body: () throws -> Void) throws {
        let lockPath = path + ".migrate-lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Errno(errno, "open \(lockPath)") }
        defer { close(fd) }
        try retryingSyscall("flock \(lockPath)") { flock(fd, LOCK_EX) }
        defer { flock(fd, LOCK_UN) }
        try body()
    }

    /// Milliseconds since the Unix epoch, the time unit of every `*_ms` column.
    public static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}

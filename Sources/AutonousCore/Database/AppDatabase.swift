import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// One of autonous's two SQLite databases: WAL, a busy timeout, and its owner's schema migrations.
///
/// Every piece of state has one owner process, and only the owner writes it: `autonous.db` (in the state
/// directory) belongs to the supervisor, `worker/worker.db` to the worker. The owner opens its database with
/// `init(path:role:)`, which creates and migrates it; everyone else (the supervisor reading the worker's
/// database, `autonousctl`, operators) opens it with `readOnly(path:)`, which never writes: SQLite's read-only
/// open plus `PRAGMA query_only`. An flock on `<path>.migrate-lock` makes migration one process at a time (tests
/// open the databases too), so two openers never both try the same CREATE TABLE.
public final class AppDatabase: Sendable {
    /// The pool every repository reads and writes through.
    public let pool: DatabasePool
    public let path: String

    /// Whose database this is, which decides its schema.
    public let role: DatabaseRole
    /// True when opened with `readOnly(path:role:)`: every write fails.
    public let isReadOnly: Bool

    /// Opens (creating if needed) the database at `path` as its owner and migrates it to `role`'s schema.
    ///
    /// - Throws: `AutonousError` with code `.database` naming the path when the file cannot be opened or migrated.
    public init(path: String, role: DatabaseRole) throws {
        self.path = path
        self.role = role
        isReadOnly = false
        var configuration = Self.baseConfiguration(label: role.rawValue)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            // Under the lock from the first statement: opening a fresh database switches it to WAL, which needs
            // the whole file, and an opener switching it while another migrates waited out the busy timeout.
            pool = try Self.withMigrationLock(path: path) {
                let pool = try DatabasePool(path: path, configuration: configuration)
                try role.migrator.migrate(pool)
                return pool
            }
        } catch {
            throw AutonousError(
                .database, "cannot open the database \(path)\(Self.diagnosis(of: error, at: path))", cause: error)
        }
    }

    /// For an error SQLite reported: its extended code, and who owns the database's files, when that can explain
    /// it (SQLite falls back to a read-only connection, silently, when a file it must write belongs to another uid).
    static func diagnosis(of error: any Error, at path: String) -> String {
        guard let error = error as? DatabaseError else { return "" }
        let name = (path as NSString).lastPathComponent
        var files: [String] = []
        for suffix in ["", "-wal", "-shm"] {
            var info = stat()
            guard stat(path + suffix, &info) == 0 else { continue }
            files.append("\(name)\(suffix) uid \(info.st_uid) mode \(String(info.st_mode & 0o7777, radix: 8))")
        }
        return " (SQLite extended code \(error.extendedResultCode.rawValue); this process is uid \(geteuid()); "
            + (files.isEmpty ? "no file yet" : files.joined(separator: ", ")) + ")"
    }

    private init(readOnlyPath path: String, role: DatabaseRole) throws {
        self.path = path
        self.role = role
        isReadOnly = true
        var configuration = Self.baseConfiguration(label: role.rawValue + "-reader")
        configuration.readonly = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA query_only = 1")
        }
        guard access(path, F_OK) == 0 else {
            throw AutonousError(.notFound, "the database \(path) does not exist yet")
        }
        do {
            try Self.provideSharedFiles(of: path)
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw AutonousError(.database, "cannot open the database \(path) read-only", cause: error)
        }
    }

    /// As root, reading another user's database: gives it its `-wal` and `-shm` when they are missing, already
    /// owned by the database's owner, before SQLite would create them.
    ///
    /// A read-only connection creates both when they are missing; as root SQLite creates them owned by root and
    /// gives them to the database's owner only after the open. An owner opening its database in that moment gets
    /// EACCES on them, silently falls back to a read-only connection, and fails at its first write ("attempt to
    /// write a readonly database"). Here each file is made under a temporary name, given its owner and mode, and
    /// linked into place only if still missing, so it never exists with the wrong owner. Empty files are what
    /// SQLite itself starts from (an empty WAL, a wal-index it initialises).
    static func provideSharedFiles(of path: String) throws {
        var database = stat()
        guard geteuid() == 0, stat(path, &database) == 0, database.st_uid != 0 else { return }
        for suffix in ["-wal", "-shm"] where access(path + suffix, F_OK) != 0 {
            let temporary = path + suffix + ".\(getpid()).tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Errno(errno, "create \(temporary)") }
            defer { unlink(temporary) }
            let given =
                fchown(fd, database.st_uid, database.st_gid) == 0
                && fchmod(fd, database.st_mode & 0o666) == 0
            close(fd)
            guard given else { throw Errno(errno, "give \(temporary) to uid \(database.st_uid)") }
            // EEXIST: the owner (or another reader) made it meanwhile, which is as good.
            guard link(temporary, path + suffix) == 0 || errno == EEXIST else {
                throw Errno(errno, "link \(path + suffix)")
            }
        }
    }

    /// Opens another process's database for reading only: it is never created, migrated or written.
    ///
    /// - Throws: `AutonousError(.notFound)` when the file does not exist (its owner has not started yet),
    ///   `AutonousError(.database)` when it cannot be opened.
    public static func readOnly(path: String, role: DatabaseRole) throws -> AppDatabase {
        try AppDatabase(readOnlyPath: path, role: role)
    }

    private static func baseConfiguration(label: String) -> GRDB.Configuration {
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.label = "autonous-" + label
        return configuration
    }

    /// Runs `body` holding an exclusive flock shared by every process that opens this database.
    static func withMigrationLock<T>(path: String, _ body: () throws -> T) throws -> T {
        let lockPath = path + ".migrate-lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Errno(errno, "open \(lockPath)") }
        defer { close(fd) }
        try retryingSyscall("flock \(lockPath)") { flock(fd, LOCK_EX) }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Milliseconds since the Unix epoch, the time unit of every `*_ms` column.
    public static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}

/// The two databases and their owners (ARCHITECTURE.md, "State, and who owns it").
public enum DatabaseRole: String, Sendable {
    /// `$AUTONOUS_STATE_DIR/autonous.db`: the supervisor's events (worker lifecycle, control audit) and, as they
    /// come, revisions, transactions and update approvals.
    case supervisor
    /// `$AUTONOUS_STATE_DIR/worker/worker.db`: inbox, outbox, conversations, model calls, tool approvals and the
    /// worker's events.
    case worker

    /// The schema migrations of this role.
    var migrator: DatabaseMigrator {
        switch self {
        case .supervisor: AppDatabase.supervisorMigrator
        case .worker: AppDatabase.workerMigrator
        }
    }
}

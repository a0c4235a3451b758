import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Moves the worker's tables out of a state directory written by an earlier version, where one `autonous.db`
/// held everything, into `worker/worker.db`. The supervisor runs it at start, before it spawns any worker.
///
/// Crash-safe in two commits:
/// 1. The worker's tables (inbox, outbox, messages, model_calls, approvals, and the events they point at) are
///    copied into `worker.db.partial` in one transaction, synced, and renamed to `worker.db`. The rename is the
///    commit: a crash before it leaves no `worker.db`, and the next start copies again from scratch.
/// 2. In `autonous.db`, one transaction drops those tables and records `state.split`. A crash before it leaves
///    both; the next start finds `worker.db` complete (it was renamed only when whole) and does step 2 only.
///
/// The legacy events stay in `autonous.db` (the log is append-only); `worker.db` holds copies with the same ids
/// so that its rows' references hold, and `autonousctl events` shows only the worker's events from
/// `AppDatabase.workerEventIDBase` on, so each legacy event appears once.
public enum LegacyStateSplit {
    /// The tables that move, in an order that satisfies their foreign keys.
    static let movedTables = ["inbox", "outbox", "messages", "model_calls", "approvals"]

    /// What `run` did.
    public enum Outcome: Sendable, Equatable {
        /// Nothing to do: the supervisor's database holds no worker tables.
        case notNeeded
        /// The tables were moved; the counts of copied rows by table.
        case split(rows: [String: Int])
    }

    /// Splits `supervisor` (already opened and migrated) if it still holds the worker's tables.
    ///
    /// - Parameters:
    ///   - workerDatabasePath: where the worker's database goes; its directory must exist.
    /// - Throws: `AutonousError(.database)` naming the step that failed; nothing is half-written.
    @discardableResult
    public static func run(supervisor: AppDatabase, workerDatabasePath: String, parentEventID: Int64? = nil) throws
        -> Outcome
    {
        let legacy = try supervisor.pool.read { db in try db.tableExists("inbox") }
        guard legacy else { return .notNeeded }
        var rows: [String: Int] = [:]
        if access(workerDatabasePath, F_OK) != 0 {
            rows = try copy(from: supervisor.path, to: workerDatabasePath)
        } else {
            rows = try countRows(workerDatabasePath)
        }
        do {
            try supervisor.pool.write { db in
                for table in movedTables.reversed() {
                    try db.execute(sql: "DROP TABLE IF EXISTS \(table)")
                }
                try EventLog.append(
                    db, .stateSplit, EventContext(parentID: parentEventID),
                    payload: [
                        "worker_database": .string(workerDatabasePath),
                        "rows": .object(rows.mapValues { .int(Int64($0)) }),
                    ])
            }
        } catch {
            throw AutonousError(
                .database, "cannot drop the moved tables from \(supervisor.path) (worker.db is complete)",
                cause: error)
        }
        return .split(rows: rows)
    }

    private static func copy(from legacyPath: String, to path: String) throws -> [String: Int] {
        let partial = path + ".partial"
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(partial + suffix) }
        var rows: [String: Int] = [:]
        do {
            // A rollback journal, not WAL: when the queue is closed, the file alone is the whole database.
            var configuration = GRDB.Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: partial, configuration: configuration)
            try DatabaseRole.worker.migrator.migrate(queue)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS legacy", arguments: [legacyPath])
                try db.inTransaction {
                    try db.execute(
                        sql: """
                            INSERT INTO main.events (id, ts_ms, parent_id, run_id, conversation_id, type, payload)
                            SELECT id, ts_ms, parent_id, run_id, conversation_id, type, payload FROM legacy.events
                            """)
                    rows["events"] = db.changesCount
                    for table in movedTables {
                        // The columns both have: later migrations may have added some (with defaults) since.
                        let legacyColumns = Set(try db.columns(in: table, in: "legacy").map(\.name))
                        let columns = try db.columns(in: table, in: "main").map(\.name).filter {
                            legacyColumns.contains($0)
                        }
                        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
                        try db.execute(
                            sql: "INSERT INTO main.\(table) (\(list)) SELECT \(list) FROM legacy.\(table)")
                        rows[table] = db.changesCount
                    }
                    return .commit
                }
                try db.execute(sql: "DETACH DATABASE legacy")
            }
            try queue.close()
        } catch {
            throw AutonousError(.database, "cannot copy the worker's tables into \(partial)", cause: error)
        }
        try syncFile(partial)
        guard rename(partial, path) == 0 else {
            throw AutonousError(.io, "cannot rename \(partial) to \(path)", cause: Errno(errno, "rename"))
        }
        try syncFile((path as NSString).deletingLastPathComponent)
        return rows
    }

    private static func countRows(_ path: String) throws -> [String: Int] {
        do {
            var configuration = GRDB.Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                var rows: [String: Int] = [:]
                // The copied events are those below the worker log's first row (`event_log.created`).
                rows["events"] =
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM events WHERE id < ?",
                        arguments: [AppDatabase.workerEventIDBase - 1]) ?? 0
                for table in movedTables {
                    rows[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0
                }
                return rows
            }
        } catch {
            throw AutonousError(.database, "cannot read \(path)", cause: error)
        }
    }

    private static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AutonousError(.io, "cannot open \(path) to sync it", cause: Errno(errno, "open")) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw AutonousError(.io, "cannot sync \(path)", cause: Errno(errno, "fsync")) }
    }
}

import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// A state directory written by the version before the split: one `autonous.db` holding everything, as `make run`
/// left it (Tests/Fixtures/legacy-state/autonous.sql is a `sqlite3 .dump` of one, after a Telegram answer, a denied
/// network call, a stranger's message and a local chat).
final class LegacyState {
    let directory: String
    var supervisorPath: String { directory + "/autonous.db" }
    var workerPath: String { directory + "/worker/worker.db" }

    static var dumpPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/legacy-state/autonous.sql").path
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("legacy-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory + "/worker", withIntermediateDirectories: true)
        try Self.restore(to: directory + "/autonous.db")
    }

    /// Writes the legacy database to `path` (replacing what is there).
    static func restore(to path: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let dump = try String(contentsOfFile: dumpPath, encoding: .utf8)
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: dump) }
        try queue.close()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite struct LegacyStateSplitTests {
    static let expectedRows = ["events": 28, "inbox": 3, "outbox": 2, "messages": 6, "model_calls": 4, "approvals": 1]

    /// The rows of `table`; of `events` in the worker's database, the copies (below the log's first row).
    private func count(_ database: AppDatabase, _ table: String) throws -> Int {
        let copies =
            database.role == .worker && table == "events" ? " WHERE id < \(AppDatabase.workerEventIDBase - 1)" : ""
        return try database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)\(copies)") ?? -1
        }
    }

    @Test func theWorkersTablesMoveOnceAndTheSupervisorKeepsItsLog() throws {
        let state = try LegacyState()
        let supervisor = try AppDatabase(path: state.supervisorPath, role: .supervisor)
        let outcome = try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: state.workerPath)
        #expect(outcome == .split(rows: Self.expectedRows))

        let worker = try AppDatabase(path: state.workerPath, role: .worker)
        for (table, rows) in Self.expectedRows { #expect(try count(worker, table) == rows, "\(table)") }
        let approval = try Approvals(database: worker).approval("yd5jbhrp")
        #expect(approval?.status == .expired)
        #expect(try Inbox(database: worker).nextOffset() != nil)
        // The history the model sees came along.
        let history = try ConversationStore(database: worker).recent(conversationID: "telegram:111", limit: 10)
        #expect(history.map(\.content).contains("capital of France?"))

        let tables = try supervisor.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        #expect(
            tables == [
                "events", "grdb_migrations", "revisions", "sqlite_sequence", "transaction_steps", "transactions",
                "update_approvals",
            ])
        // The legacy events stay (append-only), plus the record of the split.
        let events = try EventLog(database: supervisor).events()
        #expect(events.count == 29)
        let split = try #require(events.last)
        #expect(split.type == "state.split")
        #expect(split.payload["rows"]?["inbox"] == .int(3))

        #expect(try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: state.workerPath) == .notNeeded)
        #expect(try count(worker, "inbox") == 3)
    }

    @Test func aCrashAfterTheCopyFinishesWithoutCopyingAgain() throws {
        let state = try LegacyState()
        try LegacyStateSplit.run(
            supervisor: try AppDatabase(path: state.supervisorPath, role: .supervisor),
            workerDatabasePath: state.workerPath)
        // As if the supervisor died after renaming worker.db, before dropping the tables from autonous.db.
        try LegacyState.restore(to: state.supervisorPath)
        let supervisor = try AppDatabase(path: state.supervisorPath, role: .supervisor)
        #expect(
            try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: state.workerPath)
                == .split(rows: Self.expectedRows))
        let worker = try AppDatabase(path: state.workerPath, role: .worker)
        for (table, rows) in Self.expectedRows { #expect(try count(worker, table) == rows, "\(table)") }
        #expect(try supervisor.pool.read { db in try db.tableExists("inbox") } == false)
    }

    @Test func aCrashDuringTheCopyLeavesNothingThatCounts() throws {
        let state = try LegacyState()
        // A half-written copy of an earlier attempt, and no worker.db: the copy starts over.
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: state.workerPath + ".partial"))
        let supervisor = try AppDatabase(path: state.supervisorPath, role: .supervisor)
        #expect(
            try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: state.workerPath)
                == .split(rows: Self.expectedRows))
        #expect(!FileManager.default.fileExists(atPath: state.workerPath + ".partial"))
        #expect(try count(try AppDatabase(path: state.workerPath, role: .worker), "inbox") == 3)
    }

    @Test func theWorkersNewEventsDoNotCollideWithTheSupervisors() throws {
        let state = try LegacyState()
        let supervisor = try AppDatabase(path: state.supervisorPath, role: .supervisor)
        try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: state.workerPath)
        let worker = try AppDatabase(path: state.workerPath, role: .worker)
        let workerID = try EventLog(database: worker).append(.agentStarted, EventContext(parentID: 5))
        let supervisorID = try EventLog(database: supervisor).append(.workerSpawning)
        #expect(workerID == AppDatabase.workerEventIDBase)
        #expect(supervisorID == 30)
        // The parent is in the supervisor's log: no foreign key stops it.
        #expect(try EventLog(database: worker).events(afterID: AppDatabase.workerEventIDBase - 1).first?.parentID == 5)
    }

    @Test func aFreshStateHasAnEventsOnlySupervisorDatabase() throws {
        let directory = try LegacyState().directory + "-fresh"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let supervisor = try AppDatabase(path: directory + "/autonous.db", role: .supervisor)
        #expect(try LegacyStateSplit.run(supervisor: supervisor, workerDatabasePath: directory + "/w.db") == .notNeeded)
        #expect(!FileManager.default.fileExists(atPath: directory + "/w.db"))
        #expect(try EventLog(database: supervisor).append(.processStarted) == 1)
    }
}

@Suite struct ReadOnlyDatabaseTests {
    @Test func aReaderNeverWritesNorCreates() throws {
        let fixture = try TemporaryDatabase()
        _ = try EventLog(database: fixture.database).append(.processStarted)
        let reader = try AppDatabase.readOnly(path: fixture.database.path, role: .worker)
        #expect(try EventLog(database: reader).events().count == 1)
        #expect(throws: (any Error).self) { try EventLog(database: reader).append(.processStopped) }
        #expect(throws: (any Error).self) {
            try reader.pool.write { db in try db.execute(sql: "CREATE TABLE sneaky (x)") }
        }
        #expect(try EventLog(database: fixture.database).events().count == 1)

        let missing = fixture.directory + "/nobody-made-me.db"
        #expect {
            _ = try AppDatabase.readOnly(path: missing, role: .worker)
        } throws: { error in
            (error as? AutonousError)?.code == .notFound
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}

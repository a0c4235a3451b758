import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// The events table without AUTOINCREMENT and the worker's log without a run index: ids that only grow and stay
/// apart in the two logs, each run's span of ids, and logs of an earlier version rebuilt with nothing lost.
@Suite struct EventLogSchemaTests {
    private let base = AppDatabase.workerEventIDBase

    private func dump(_ database: AppDatabase) throws -> [[String]] {
        try database.pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, ts_ms, parent_id, run_id, conversation_id, type, payload FROM events ORDER BY id"
            ).map { row in row.databaseValues.map(\.description) }
        }
    }

    private func span(_ database: AppDatabase, _ run: String) throws -> [Int64?] {
        try database.pool.read { db in try span(db, run) }
    }

    private func span(_ db: Database, _ run: String) throws -> [Int64?] {
        let row = try #require(
            try Row.fetchOne(db, sql: "SELECT first_event_id, last_event_id FROM runs WHERE id = ?", arguments: [run]))
        return [row["first_event_id"], row["last_event_id"]]
    }

    /// A database at `path` migrated only up to `migration`, as an earlier version left it, with `fill`'s rows.
    private func earlierVersion(
        _ path: String, _ role: DatabaseRole, upTo migration: String, fill: (Database) throws -> Void
    ) throws {
        let old = try DatabaseQueue(path: path)
        try role.migrator.migrate(old, upTo: migration)
        try old.write(fill)
        try old.close()
    }

    private func startRun(_ db: Database, _ id: String) throws -> Int64 {
        let started = try EventLog.append(db, .agentStarted, EventContext(runID: id, conversationID: "telegram:1"))
        var run = RunRecord(
            id: id, conversationID: "telegram:1", inboxID: nil, commander: "telegram", requestedBy: "1", startedMs: 1)
        run.eventID = started
        try RunLog.start(db, run)
        return started
    }

    @Test func theWorkersIDsStartAtTheBaseTheSupervisorsAtOneAndBothOnlyGrow() throws {
        let fixture = try TemporaryDatabase()
        let worker = EventLog(database: fixture.database)
        let first = try worker.append(.inboxRequeued)
        #expect(first == base)
        // The log's first row holds the ids apart; readers of the worker's own events never see it.
        let anchor = try fixture.database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, type, payload FROM events ORDER BY id LIMIT 1")
        }
        #expect(anchor?["id"] == base - 1)
        #expect(anchor?["type"] == "event_log.created")
        #expect(try worker.events().map(\.id) == [base])
        let reopened = EventLog(database: try AppDatabase(path: fixture.database.path, role: .worker))
        #expect(try reopened.append(.inboxRequeued) == base + 1)

        let supervisor = EventLog(
            database: try AppDatabase(path: fixture.directory + "/autonous.db", role: .supervisor))
        #expect(try supervisor.append(.processStarted) == 1)
        #expect(try supervisor.append(.processStopped) == 2)
    }

    @Test func aRunsSpanHoldsEveryEventOfTheRunAndWidensForALateOne() throws {
        let fixture = try TemporaryDatabase()
        let database = fixture.database
        let late = try database.pool.write { db -> Int64 in
            try EventLog.append(db, .agentStarted, EventContext(runID: "other"))
            let started = try startRun(db, "run-a")
            try EventLog.append(db, .turnStarted, EventContext(parentID: started, runID: "run-a"))
            try EventLog.append(db, .turnStarted, EventContext(runID: "other"))
            try EventLog.append(db, .agentCompleted, EventContext(parentID: started, runID: "run-a"))
            #expect(try span(db, "run-a") == [started, nil], "open while the run goes on")
            try RunLog.finish(db, runID: "run-a", status: .answered, stopReason: "answered")
            #expect(try span(db, "run-a") == [started, started + 3])
            try EventLog.append(db, .turnStarted, EventContext(runID: "other"))
            // The commander records a failure after the agent gave up: the span takes it in.
            let late = try EventLog.append(db, .inboxProcessingFailed, EventContext(runID: "run-a"))
            try EventLog.append(db, .turnStarted, EventContext(runID: "other"))
            return late
        }
        #expect(try span(database, "run-a") == [late - 5, late])

        let supervisor = try AppDatabase(path: fixture.directory + "/autonous.db", role: .supervisor)
        let merged = MergedEventLog(supervisor: supervisor, worker: { database })
        let page = try merged.after(EventCursor(), EventQuery(runID: "run-a"), limit: 100)
        #expect(
            page.events.map(\.event.type) == [
                "agent.started", "turn.started", "agent.completed", "inbox.processing_failed",
            ])
        // The newest first, as `events --run` without a cursor reads.
        let latest = try merged.latest(EventQuery(runID: "run-a"), limit: 2)
        #expect(latest.events.map(\.event.id) == [late - 2, late])
        // An id no run started with is found all the same, by a walk of the whole log.
        #expect(try merged.latest(EventQuery(runID: "other"), limit: 100).events.count == 4)
    }

    @Test func aRunAWorkerLeftRunningIsClosedAtTheLogsEndWhenTheNextWorkerStarts() throws {
        let fixture = try TemporaryDatabase()
        let started = try fixture.database.pool.write { db in try startRun(db, "run-a") }
        let last = try EventLog(database: fixture.database).append(.turnStarted, EventContext(runID: "run-b"))
        #expect(try fixture.database.pool.write { db in try RunLog.interruptAbandoned(db) } == 1)
        #expect(try span(fixture.database, "run-a") == [started, last])
    }

    /// A worker log as `w10` left it: AUTOINCREMENT, the run index, runs without spans.
    @Test func aWorkerLogOfAnEarlierVersionIsRebuiltWithEveryIDAndEachRunsSpan() throws {
        let fixture = try TemporaryDatabase()
        let path = fixture.directory + "/old-worker.db"
        try earlierVersion(path, .worker, upTo: "w10-events-without-time-index") { db in
            let insert = "INSERT INTO events (ts_ms, parent_id, run_id, type, payload) VALUES (?, ?, ?, ?, ?)"
            try db.execute(sql: insert, arguments: [10, nil, "run-a", "agent.started", #"{"n":1}"#])
            try db.execute(sql: insert, arguments: [11, base, "run-b", "agent.started", "{}"])
            try db.execute(sql: insert, arguments: [12, base, "run-a", "turn.started", #"{"turn":1}"#])
            try db.execute(sql: insert, arguments: [13, nil, nil, "telegram.poll_failed", "{}"])
            try db.execute(sql: insert, arguments: [14, nil, "run-a", "inbox.processing_failed", "{}"])
            let run = """
                INSERT INTO runs (id, conversation_id, commander, requested_by, event_id, status, started_ms, ended_ms)
                VALUES (?, 'telegram:1', 'telegram', '1', ?, ?, 10, ?)
                """
            try db.execute(sql: run, arguments: ["run-a", base, "answered", 12])
            try db.execute(sql: run, arguments: ["run-b", base + 1, "running", nil])
            try db.execute(sql: run, arguments: ["run-c", nil, "failed", 13])
        }
        let before = try dump(try AppDatabase.readOnly(path: path, role: .worker))
        #expect(before.first?.first == "\(base)")

        let database = try AppDatabase(path: path, role: .worker)
        #expect(try dump(database) == before, "the same rows with the same ids, and no first row added")
        #expect(try span(database, "run-a") == [base, base + 4])
        #expect(try span(database, "run-b") == [base + 1, nil])
        #expect(try span(database, "run-c") == [0, 0], "a run with no events has an empty span")
        #expect(try EventLog(database: database).append(.inboxRequeued, EventContext(runID: "run-a")) == base + 5)
        #expect(try span(database, "run-a") == [base, base + 5])
        #expect(throws: DatabaseError.self) {
            try database.pool.write { db in try db.execute(sql: "DELETE FROM events WHERE id = ?", arguments: [base]) }
        }
        #expect(throws: DatabaseError.self) {
            try database.pool.write { db in try db.execute(sql: "UPDATE events SET type = 'x'") }
        }
    }

    /// A worker log that holds only the copies of an earlier version's events (ids below the base).
    @Test func aWorkerLogWithOnlyCopiedEventsGetsItsFirstRowAtTheBase() throws {
        let fixture = try TemporaryDatabase()
        let path = fixture.directory + "/old-worker.db"
        try earlierVersion(path, .worker, upTo: "w10-events-without-time-index") { db in
            try db.execute(sql: "INSERT INTO events (id, ts_ms, type) VALUES (7, 1, 'inbox.requeued')")
        }
        let database = try AppDatabase(path: path, role: .worker)
        #expect(try EventLog(database: database).append(.inboxRequeued) == base)
        #expect(try EventLog(database: database).events(afterID: 0).map(\.id) == [7, base - 1, base])
    }

    /// The supervisor's log as `s5` left it, with a revision and a transaction step pointing at its events.
    @Test func theSupervisorsLogOfAnEarlierVersionIsRebuiltWithItsReferencesIntact() throws {
        let fixture = try TemporaryDatabase()
        let path = fixture.directory + "/old-autonous.db"
        try earlierVersion(path, .supervisor, upTo: "s5-events-without-time-index") { db in
            try db.execute(sql: "INSERT INTO events (ts_ms, type) VALUES (1, 'process.started')")
            try db.execute(sql: "INSERT INTO events (ts_ms, parent_id, type) VALUES (2, 1, 'revision.promoted')")
            try db.execute(
                sql: "INSERT INTO revisions (ts_ms, sha256, state, event_id) VALUES (2, ?, 'promoted', 2)",
                arguments: [String(repeating: "a", count: 64)])
        }
        let before = try dump(try AppDatabase.readOnly(path: path, role: .supervisor))
        let database = try AppDatabase(path: path, role: .supervisor)
        #expect(try dump(database) == before)
        let (violations, reference) = try database.pool.read { db in
            (
                try Row.fetchAll(db, sql: "PRAGMA foreign_key_check"),
                try Int64.fetchOne(db, sql: "SELECT event_id FROM revisions")
            )
        }
        #expect(violations.isEmpty)
        #expect(reference == 2)
        #expect(try EventLog(database: database).append(.processStopped) == 3)
        #expect(throws: DatabaseError.self) {
            try database.pool.write { db in
                try db.execute(sql: "INSERT INTO events (ts_ms, parent_id, type) VALUES (3, 99, 'process.stopped')")
            }
        }
    }

    /// A revision reverted to last-good runs on the database the newer revision migrated: this version opens a
    /// worker log with a migration it does not know, and appends, records runs and traces them as before.
    @Test func aWorkerLogALaterVersionMigratedStillOpensAndWorks() throws {
        let fixture = try TemporaryDatabase()
        let path = fixture.directory + "/later-worker.db"
        var later = DatabaseRole.worker.migrator
        later.registerMigration("w99-later") { db in
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN later_column TEXT;
                    CREATE TABLE later_table (id INTEGER PRIMARY KEY);
                    """)
        }
        let queue = try DatabaseQueue(path: path)
        try later.migrate(queue)
        try queue.close()

        let database = try AppDatabase(path: path, role: .worker)
        let started = try database.pool.write { db in
            let started = try startRun(db, "run-a")
            try EventLog.append(db, .turnStarted, EventContext(parentID: started, runID: "run-a"))
            try RunLog.finish(db, runID: "run-a", status: .answered, stopReason: "answered")
            return started
        }
        #expect(started == base)
        #expect(try span(database, "run-a") == [base, base + 1])
        let trace = try database.pool.read { db in try RunLog.trace(db, id: "run-a") }
        #expect(trace?.turns.count == 1)
    }
}

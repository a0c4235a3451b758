import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// A database in a fresh temporary directory, removed afterwards.
final class TemporaryDatabase {
    let directory: String
    let database: AppDatabase

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("db-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try AppDatabase(path: directory + "/worker.db", role: .worker)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite struct DatabaseTests {
    private func update(_ id: Int64, user: Int64 = 1, text: String = "hi") -> NewInboxItem {
        NewInboxItem(
            updateID: id, kind: "message", chatID: user, userID: user, text: text,
            payload: #"{"update_id":\#(id)}"#)
    }

    @Test func theOffsetIsOnePastTheHighestStoredUpdate() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        #expect(try inbox.nextOffset() == nil)
        let stored = try inbox.store([update(10), update(12), update(11)])
        #expect(stored.map(\.updateID) == [10, 12, 11])
        #expect(try inbox.nextOffset() == 13)
        // A re-delivered update is not stored twice.
        #expect(try inbox.store([update(12), update(13)]).map(\.updateID) == [13])
        #expect(try inbox.counts() == InboxCounts(queued: 4))
    }

    @Test func theOldestUnansweredMessageAndTheOutboxBacklogAreCounted() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        let outbox = Outbox(database: fixture.database)
        #expect(try inbox.oldestUnansweredMs() == nil)
        #expect(try outbox.backlog() == 0)
        let press = NewInboxItem(
            updateID: 1, kind: "callback_query", chatID: 1, userID: 1, text: nil, payload: #"{"update_id":1}"#)
        _ = try inbox.store([press])
        #expect(try inbox.oldestUnansweredMs() == nil, "button presses are not messages waiting for an answer")
        _ = try inbox.store([update(2), update(3)])
        let claimed = try #require(try inbox.claimNext(runID: "run-a"))
        let received = try fixture.database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT received_ms FROM inbox WHERE id = ?", arguments: [claimed.id])
        }
        #expect(try inbox.oldestUnansweredMs() == received, "in progress still counts")
        try inbox.finish(claimed.id, status: .done, outcome: "answered")
        try fixture.database.pool.write { db in
            try Outbox.enqueue(db, inboxID: claimed.id, conversationID: "c", chatID: 1, chunks: ["a", "b", "c"])
        }
        let chunks = try outbox.allPending()
        try outbox.markSent(chunks[0].id, telegramMessageID: 1)
        try outbox.markAttemptFailed(chunks[1].id, error: "gone", final: true)
        #expect(try outbox.backlog() == 1, "neither sent nor failed")
    }

    @Test func claimingTakesTheOldestAndCountsAttempts() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([update(1, text: "first"), update(2, text: "second")])
        let first = try #require(try inbox.claimNext(runID: "run-a"))
        #expect(first.text == "first")
        #expect(first.status == .inProgress)
        #expect(first.attempts == 1)
        #expect(first.runID == "run-a")
        // A crash leaves it in progress; the next worker requeues it and it is claimed again, attempt 2.
        #expect(try inbox.requeueInterrupted() == 1)
        let again = try #require(try inbox.claimNext(runID: "run-b"))
        #expect(again.id == first.id)
        #expect(again.attempts == 2)
        try inbox.finish(again.id, status: .done, outcome: "answered")
        #expect(try inbox.claimNext(runID: "run-c")?.text == "second")
        #expect(try inbox.claimNext(runID: "run-d") == nil)
        #expect(try inbox.counts() == InboxCounts(queued: 0, inProgress: 1, failed: 0, done: 1))
    }

    @Test func outboxChunksAreSentOnceEach() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([update(1)])
        let item = try #require(try inbox.claimNext(runID: "r"))
        let outbox = Outbox(database: fixture.database)
        #expect(try outbox.hasReply(forInbox: item.id) == false)
        try fixture.database.pool.write { db in
            try Outbox.enqueue(db, inboxID: item.id, conversationID: "telegram:1", chatID: 1, chunks: ["a", "b"])
        }
        #expect(try outbox.hasReply(forInbox: item.id))
        let pending = try outbox.pending(forInbox: item.id)
        #expect(pending.map(\.text) == ["a", "b"])
        try outbox.markSent(pending[0].id, telegramMessageID: 77)
        try outbox.markAttemptFailed(pending[1].id, error: "HTTP 500", final: false)
        let left = try outbox.pending(forInbox: item.id)
        #expect(left.map(\.text) == ["b"])
        #expect(left.first?.attempts == 1)
        // The same chunk cannot be queued twice for one inbox row.
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try Outbox.enqueue(db, inboxID: item.id, conversationID: "telegram:1", chatID: 1, chunks: ["again"])
            }
        }
    }

    @Test func aRetriedInboxRowStoresItsUserMessageOnce() throws {
        let fixture = try TemporaryDatabase()
        _ = try Inbox(database: fixture.database).store([update(1)])
        let inboxID = try #require(try Inbox(database: fixture.database).claimNext(runID: "r")?.id)
        for _ in 0 ..< 2 {
            try fixture.database.pool.write { db in
                try ConversationStore.append(
                    db, conversationID: "c", role: .user, content: "hello", inboxID: inboxID, runID: "r")
            }
        }
        try fixture.database.pool.write { db in
            try ConversationStore.append(
                db, conversationID: "c", role: .assistant, content: "hi!", inboxID: inboxID, runID: "r")
            try ConversationStore.append(
                db, conversationID: "c", role: .user, content: "local", inboxID: nil, runID: nil)
            try ConversationStore.append(
                db, conversationID: "other", role: .user, content: "x", inboxID: nil, runID: nil)
        }
        let store = ConversationStore(database: fixture.database)
        #expect(
            try store.recent(conversationID: "c", limit: 10)
                == [
                    .init(role: .user, content: "hello"), .init(role: .assistant, content: "hi!"),
                    .init(role: .user, content: "local"),
                ])
        #expect(try store.recent(conversationID: "c", limit: 1) == [.init(role: .user, content: "local")])
        #expect(
            try store.recent(conversationID: "c", limit: 10, excludingInbox: inboxID) == [
                .init(role: .user, content: "local")
            ])
    }

    @Test func eventsKeepTheirTreeAndCannotBeChangedOrDeleted() throws {
        let fixture = try TemporaryDatabase()
        let log = EventLog(database: fixture.database)
        let root = try log.append(.processStarted, payload: ["pid": .int(1)])
        let context = EventContext(parentID: root, runID: "run-1", conversationID: "local:ops")
        let child = try log.append(.agentStarted, context, payload: ["text": .string("a \"quoted\" line\nand more")])
        let events = try log.events()
        #expect(events.map(\.id) == [root, child])
        #expect(events[1].parentID == root)
        #expect(events[1].runID == "run-1")
        #expect(events[1].payload["text"] == .string("a \"quoted\" line\nand more"))
        #expect(try log.events(runID: "run-1").count == 1)
        #expect(try log.events(typePrefix: "process.").count == 1)
        #expect(try log.events(typePrefix: "%").isEmpty)
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in try db.execute(sql: "UPDATE events SET payload = '{}'") }
        }
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try db.execute(sql: "DELETE FROM events WHERE id = ?", arguments: [child])
            }
        }
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try db.execute(sql: "INSERT INTO events (ts_ms, type, payload) VALUES (1, 'x', 'not json')")
            }
        }
        #expect(try log.events().count == 2)
    }

    /// Every index on `events` is one more page written to the WAL by each append; these are the ones the queries
    /// use, which the query plans show. The worker's log has no run index: a run's events are read along the rowid
    /// within the run's span.
    @Test(arguments: [DatabaseRole.worker, .supervisor])
    func theEventsTableHasOnlyTheIndexesItsQueriesUse(role: DatabaseRole) throws {
        let fixture = try TemporaryDatabase()
        let database = try AppDatabase(path: fixture.directory + "/\(role).db", role: role)
        try database.pool.read { db in
            let indexes = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
            #expect(indexes == (role == .worker ? ["events_type"] : ["events_run", "events_type"]))
            func plan(_ sql: String) throws -> String {
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }
                    .joined(separator: "; ")
            }
            // `trace`'s read (RunTrace), `events --run`, `events --type` and `events --since` (MergedEventLog).
            let trace = try plan(
                "SELECT id FROM events WHERE id BETWEEN 5 AND 9 AND run_id = 'r'"
                    + " AND type IN ('turn.started', 'tool_call.started') ORDER BY id")
            let run = try plan("SELECT * FROM events WHERE id > 5 AND id <= 9 AND run_id = 'r' ORDER BY id LIMIT 10")
            if role == .worker {
                // Either way the read stays within the span: along the rowid, or along the type index per type.
                let bounded = [
                    "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
                    "USING INDEX events_type (type=? AND id>? AND id<?)",
                ]
                for detail in [trace, run] { #expect(bounded.contains { detail.contains($0) }, "\(detail)") }
            } else {
                #expect(trace.contains("USING INDEX events_run"), "\(trace)")
            }
            #expect(
                try plan("SELECT * FROM events WHERE id > 0 AND type IN ('a', 'b') ORDER BY id LIMIT 10")
                    .contains("USING INDEX events_type"))
            #expect(
                try plan("SELECT * FROM events WHERE id > 0 AND ts_ms >= 5 ORDER BY id LIMIT 10")
                    .contains("USING INTEGER PRIMARY KEY"))
            // No AUTOINCREMENT: it made every append write `sqlite_sequence` too.
            #expect(
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'events'")?
                    .contains("AUTOINCREMENT") == false)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_sequence WHERE name = 'events'") == 0)
        }
    }

    @Test func reopeningMigratesNothingTwiceAndUsesWAL() throws {
        let fixture = try TemporaryDatabase()
        _ = try EventLog(database: fixture.database).append(.processStarted)
        let reopened = try AppDatabase(path: fixture.directory + "/worker.db", role: .worker)
        #expect(try EventLog(database: reopened).events().count == 1)
        let mode = try reopened.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func anUnopenableDatabaseSaysWhichPath() {
        #expect {
            _ = try AppDatabase(path: "/proc/definitely/not/here.db", role: .supervisor)
        } throws: { error in
            (error as? AutonousError)?.message.contains("/proc/definitely/not/here.db") == true
        }
    }

    @Test func anUnopenableDatabaseSaysSQLitesCodeAndWhoOwnsItsFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("db-" + UUID().uuidString).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A directory where the database should be: SQLite cannot open it (SQLITE_CANTOPEN, 14).
        try FileManager.default.createDirectory(
            atPath: directory + "/worker.db", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o750])
        do {
            _ = try AppDatabase(path: directory + "/worker.db", role: .worker)
            Issue.record("opened a directory as a database")
        } catch let error as AutonousError {
            #expect(error.code == .database)
            #expect(
                error.message.hasSuffix(
                    "(SQLite extended code 14; this process is uid \(geteuid()); worker.db uid \(geteuid()) mode 750)"),
                "\(error.message)")
        }
    }
}

@Suite struct ConcurrentMigrationTests {
    @Test func manyOpenersOfAFreshDatabaseAllSucceed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mig-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/autonous.db"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0 ..< 8 {
                group.addTask { _ = try AppDatabase(path: path, role: .worker) }
            }
            try await group.waitForAll()
        }
        #expect(try EventLog(database: try AppDatabase(path: path, role: .worker)).events().isEmpty)
    }
}

/// Root reading another user's database (the supervisor the worker's, an operator's backup) never leaves it a
/// `-wal` or `-shm` its owner cannot write.
@Suite struct ReadOnlyOpenOwnershipTests {
    @Test(.enabled(if: ChildProcess.isHostRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func rootGivesTheOwnersDatabaseItsSharedFilesOwnedByTheOwner() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ro-" + UUID().uuidString).path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/worker.db"
        // The owner's database, closed: no -wal and no -shm left.
        do {
            let owner = try AppDatabase(path: path, role: .worker)
            try owner.pool.close()
        }
        let owner: uid_t = 65534
        #expect(chown(directory, owner, owner) == 0 && chown(path, owner, owner) == 0)
        #expect(access(path + "-wal", F_OK) != 0 && access(path + "-shm", F_OK) != 0)

        // Before SQLite opens anything, the files are there and the owner's: SQLite's own creation (as root, then
        // fchown) would leave a moment in which they are root's, which no test can catch reliably.
        try AppDatabase.provideSharedFiles(of: path)
        for suffix in ["-wal", "-shm"] {
            var info = stat()
            #expect(stat(path + suffix, &info) == 0)
            #expect(info.st_uid == owner && info.st_size == 0, "\(suffix): uid \(info.st_uid), \(info.st_size) bytes")
        }
        let reader = try AppDatabase.readOnly(path: path, role: .worker)
        #expect(
            try await reader.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE type = 'x'")
            } == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)

        // The owner can still write while root reads: SQLite did not fall back to a read-only connection.
        let (status, message) = try await ChildProcess.runToEnd(
            executable: "/usr/bin/setpriv",
            arguments: [
                "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                "import sqlite3; c = sqlite3.connect('\(path)', isolation_level=None); c.execute('BEGIN IMMEDIATE');"
                    + " c.execute(\"INSERT INTO events (ts_ms, type, payload) VALUES (1, 'x', '{}')\");"
                    + " c.execute('COMMIT')",
            ],
            environment: ["PATH": "/usr/bin:/bin"])
        #expect(status == .exited(0), "\(message)")
        #expect(
            try await reader.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE type = 'x'")
            } == 1)
    }
}

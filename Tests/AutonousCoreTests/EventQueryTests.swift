import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// `autonousctl events`' time and type arguments, and the merged read of both logs behind `GetEvents`.
@Suite(.timeLimit(.minutes(1))) struct EventQueryTests {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)
    private var nowMs: Int64 { 1_800_000_000_000 }

    @Test func durationsCountBackFromNow() {
        #expect(PastTime.unixMilliseconds("90s", now: now) == nowMs - 90_000)
        #expect(PastTime.unixMilliseconds("15m", now: now) == nowMs - 900_000)
        #expect(PastTime.unixMilliseconds("1h", now: now) == nowMs - 3_600_000)
        #expect(PastTime.unixMilliseconds("2d", now: now) == nowMs - 172_800_000)
        #expect(PastTime.unixMilliseconds("1h30m", now: now) == nowMs - 5_400_000)
        #expect(PastTime.unixMilliseconds("250ms", now: now) == nowMs - 250)
        #expect(PastTime.unixMilliseconds("0s", now: now) == nowMs)
    }

    @Test func isoTimesNeedAZone() {
        #expect(PastTime.unixMilliseconds("2026-12-05T10:00:00Z", now: now) == 1_796_464_800_000)
        #expect(PastTime.unixMilliseconds("2026-12-05T11:00:00+01:00", now: now) == 1_796_464_800_000)
        #expect(PastTime.unixMilliseconds("2026-12-05T10:00:00.250Z", now: now) == 1_796_464_800_250)
        #expect(PastTime.unixMilliseconds("2026-12-05t10:00:00z", now: now) == 1_796_464_800_000)
        #expect(PastTime.unixMilliseconds("2026-12-05T10:00:00", now: now) == nil)
        #expect(PastTime.unixMilliseconds("2026-12-05", now: now) == nil)
    }

    @Test func garbageIsNoTime() {
        for text in ["", "yesterday", "1", "1y", "h", "-5m", "1.5h", "5 m", "m5", "1h-", "9999999999d", "1hh"] {
            #expect(PastTime.unixMilliseconds(text, now: now) == nil, "\(text)")
        }
    }

    @Test func typePatternsAreExactOrPrefixes() throws {
        let filter = try EventTypeFilter(["worker.ready", "approval.", "turn.*", "tool*"])
        #expect(filter.exact == ["worker.ready"])
        #expect(filter.prefixes == ["approval.", "turn.", "tool"])
        #expect(filter.matches("worker.ready"))
        #expect(!filter.matches("worker.ready.late"))
        #expect(!filter.matches("worker.spawned"))
        #expect(filter.matches("approval.decided"))
        #expect(!filter.matches("approval"))
        #expect(filter.matches("turn.completed"))
        #expect(filter.matches("tool_call.started"))
        #expect(EventTypeFilter().matches("anything"))
        #expect(try EventTypeFilter([]).matchesEverything)
    }

    @Test func malformedTypePatternsAreRefused() {
        for pattern in ["", "*", "a*b", "worker ready", "a;DROP", "**", "é.x", String(repeating: "a", count: 200)] {
            #expect(throws: AutonousError.self, "\(pattern)") { try EventTypeFilter([pattern]) }
        }
    }

    /// Both logs in a fresh directory; appended events get the times given, not the clock's.
    private final class Logs {
        let directory: String
        let supervisor: AppDatabase
        let worker: AppDatabase

        init() throws {
            directory =
                FileManager.default.temporaryDirectory.appendingPathComponent("events-" + UUID().uuidString)
                .path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            supervisor = try AppDatabase(path: directory + "/autonous.db", role: .supervisor)
            worker = try AppDatabase(path: directory + "/worker.db", role: .worker)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var merged: MergedEventLog {
            let worker = worker
            return MergedEventLog(supervisor: supervisor) { worker }
        }

        @discardableResult
        func append(_ database: AppDatabase, _ type: String, at ts: Int64, parent: Int64? = nil, run: String? = nil)
            throws -> Int64
        {
            try database.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO events (ts_ms, parent_id, run_id, type, payload) VALUES (?, ?, ?, ?, '{}')",
                    arguments: [ts, parent, run, type])
                return db.lastInsertedRowID
            }
        }
    }

    @Test func bothLogsMergeByTimeAndTheNewestPageKeepsTheLatest() throws {
        let logs = try Logs()
        let started = try logs.append(logs.supervisor, "process.started", at: 100)
        let spawning = try logs.append(logs.supervisor, "worker.spawning", at: 110, parent: started)
        try logs.append(logs.worker, "agent.started", at: 120, parent: spawning, run: "r1")
        try logs.append(logs.supervisor, "worker.ready", at: 120)
        try logs.append(logs.worker, "turn.completed", at: 130, run: "r1")
        let all = try logs.merged.latest(EventQuery(), limit: 100)
        #expect(
            all.events.map(\.event.type) == [
                "process.started", "worker.spawning", "worker.ready", "agent.started", "turn.completed",
            ])
        #expect(all.events.map(\.source) == [.supervisor, .supervisor, .supervisor, .worker, .worker])
        #expect(all.events[3].event.parentID == spawning)
        #expect(all.events[3].event.id == AppDatabase.workerEventIDBase)
        #expect(all.cursor == EventCursor(supervisor: 3, worker: AppDatabase.workerEventIDBase + 1))
        let latest = try logs.merged.latest(EventQuery(), limit: 2)
        #expect(latest.events.map(\.event.type) == ["agent.started", "turn.completed"])
        #expect(latest.cursor == all.cursor)
        let workerOnly = try logs.merged.latest(EventQuery(types: try EventTypeFilter(["worker."])), limit: 100)
        #expect(workerOnly.events.map(\.event.type) == ["worker.spawning", "worker.ready"])
        let run = try logs.merged.latest(EventQuery(runID: "r1"), limit: 100)
        #expect(run.events.map(\.event.type) == ["agent.started", "turn.completed"])
        let since = try logs.merged.latest(EventQuery(sinceMs: 120), limit: 100)
        #expect(since.events.count == 3)
    }

    @Test func pagingAfterACursorMissesNothingAndRepeatsNothing() throws {
        let logs = try Logs()
        for index in 0 ..< 7 {
            try logs.append(logs.supervisor, "s.\(index)", at: Int64(index * 10))
            try logs.append(logs.worker, "w.\(index)", at: Int64(index * 10 + 5))
        }
        let query = EventQuery(types: try EventTypeFilter(["s.", "w.1", "w.5"]))
        var cursor = EventCursor()
        var seen: [String] = []
        while true {
            let page = try logs.merged.after(cursor, query, limit: 3)
            if page.events.isEmpty { break }
            seen += page.events.map(\.event.type)
            cursor = page.cursor
        }
        #expect(seen == ["s.0", "s.1", "w.1", "s.2", "s.3", "s.4", "s.5", "w.5", "s.6"])
        // The cursor reached the end of both logs, past the events that did not match.
        #expect(cursor == EventCursor(supervisor: 7, worker: AppDatabase.workerEventIDBase + 6))
        try logs.append(logs.worker, "w.5", at: 1000)
        let next = try logs.merged.after(cursor, query, limit: 3)
        #expect(next.events.map(\.event.type) == ["w.5"])
    }

    @Test func legacyCopiesInTheWorkersDatabaseAreReadOnlyOnce() throws {
        let logs = try Logs()
        try logs.append(logs.supervisor, "legacy.event", at: 10)
        // What the split of an earlier version's state leaves: a copy under its old id in worker.db.
        try logs.worker.pool.write { db in
            try db.execute(sql: "INSERT INTO events (id, ts_ms, type, payload) VALUES (1, 10, 'legacy.event', '{}')")
        }
        let page = try logs.merged.latest(EventQuery(), limit: 100)
        #expect(page.events.map(\.event.type) == ["legacy.event"])
        #expect(page.events.first?.source == .supervisor)
        #expect(try logs.merged.after(EventCursor(), EventQuery(), limit: 100).events.count == 1)
    }

    @Test func anAppendWakesAWaiterAndARollbackDoesNot() async throws {
        let logs = try Logs()
        let observer = EventAppendObserver.observe(logs.supervisor)
        let before = observer.signal.generation
        struct Rollback: Error {}
        #expect(throws: Rollback.self) {
            try logs.supervisor.pool.write { db -> Void in
                try EventLog.append(db, .processStarted)
                throw Rollback()
            }
        }
        #expect(observer.signal.generation == before)
        try EventLog(database: logs.supervisor).append(.processStarted)
        #expect(observer.signal.generation == before + 1)
        // A waiter that saw an older generation returns at once.
        try await observer.signal.wait(past: before)
    }

    @Test func aWorkerDatabaseWriteWakesTheFileWatch() async throws {
        let logs = try Logs()
        let watch = try FileChangeWatch(directory: logs.directory, names: ["worker.db", "worker.db-wal"])
        defer { watch.close() }
        let woken = Task { try await watch.next() }
        try logs.append(logs.worker, "turn.completed", at: 1)
        // A wake-up, not a timer: this returns as soon as the WAL is written (the suite's time limit bounds it).
        try await woken.value
    }
}

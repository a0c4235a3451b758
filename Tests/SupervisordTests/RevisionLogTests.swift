import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Supervisord

/// The revision log on a real supervisor database, and the symlinks reconciled from it after a crash.
@Suite struct RevisionLogTests {
    /// An artifact store and a supervisor database in one temporary state directory.
    final class Fixture {
        let artifacts: ArtifactFixture
        let database: AppDatabase
        let log: RevisionLog

        init() throws {
            artifacts = try ArtifactFixture()
            database = try AppDatabase(path: artifacts.root + "/autonous.db", role: .supervisor)
            log = RevisionLog(database: database)
        }

        var store: ArtifactStore { artifacts.store }

        func count(_ table: String) throws -> Int {
            try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
        }
    }

    private let a = String(repeating: "a", count: 64)
    private let b = String(repeating: "b", count: 64)
    private let c = String(repeating: "c", count: 64)

    @Test func theNewestRowSaysWhatThePointersMustName() throws {
        let fixture = try Fixture()
        #expect(try fixture.log.latest() == nil)
        let imported = try fixture.log.record(
            a, .imported, reason: nil, current: nil, lastGood: nil, previousGood: nil, event: nil)
        let probation = try fixture.log.record(
            a, .probation, reason: "deploy", current: a, lastGood: nil, previousGood: nil, event: nil)
        let promoted = try fixture.log.record(
            a, .promoted, reason: "healthy for 60s", current: a, lastGood: a, previousGood: nil, event: nil)
        let other = try fixture.log.record(
            b, .refused, reason: "does not verify", current: a, lastGood: a, previousGood: nil, event: nil)

        #expect(try fixture.log.latest() == other)
        #expect(try fixture.log.latest(for: a) == promoted)
        #expect(try fixture.log.latest(for: c) == nil)
        #expect(try fixture.log.history(limit: 3) == [other, promoted, probation])
        #expect(try fixture.log.history(limit: 10).last == imported)
        #expect(try fixture.log.states() == [a: promoted, b: other])
        #expect(promoted.state == .promoted && promoted.reason == "healthy for 60s" && promoted.eventID == nil)
    }

    @Test func theLogIsAppendOnly() throws {
        let fixture = try Fixture()
        try fixture.log.record(a, .imported, reason: nil, current: nil, lastGood: nil, previousGood: nil, event: nil)
        let update = #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in try db.execute(sql: "UPDATE revisions SET state = 'promoted'") }
        }
        #expect(update?.message == "revisions are append-only: UPDATE is not allowed")
        let delete = #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in try db.execute(sql: "DELETE FROM revisions") }
        }
        #expect(delete?.message == "revisions are append-only: DELETE is not allowed")
        #expect(try fixture.log.latest()?.state == .imported)
    }

    @Test func aChangeAndItsEventCommitTogether() throws {
        let fixture = try Fixture()
        let parent = try EventLog(database: fixture.database).append(.workerSpawned)
        let entry = try fixture.log.record(
            a, .reverted, reason: "crash loop", current: b, lastGood: b, previousGood: nil,
            event: (type: .revisionReverted, payload: ["sha256": .string(a)], parentID: parent))
        let events = try EventLog(database: fixture.database).events(typePrefix: "revision.")
        #expect(events.count == 1)
        #expect(entry.eventID == events.first?.id)
        #expect(events.first?.parentID == parent)
        #expect(events.first?.payload == .object(["sha256": .string(a)]))
        let stored = try fixture.database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT event_id FROM revisions WHERE id = ?", arguments: [entry.id])
        }
        #expect(stored == entry.eventID)

        // When the row cannot be written, the event written before it in the same transaction is rolled back.
        try fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TRIGGER refuse_boom BEFORE INSERT ON revisions WHEN NEW.reason = 'boom'
                    BEGIN SELECT RAISE(ABORT, 'boom'); END
                    """)
        }
        let eventsBefore = try fixture.count("events")
        #expect(throws: AutonousError.self) {
            try fixture.log.record(
                b, .probation, reason: "boom", current: b, lastGood: b, previousGood: nil,
                event: (type: .revisionProbation, payload: [:], parentID: nil))
        }
        #expect(try fixture.count("events") == eventsBefore)
        #expect(try fixture.count("revisions") == 1)
    }

    @Test func aMalformedSha256IsNotRecorded() throws {
        let fixture = try Fixture()
        let error = #expect(throws: AutonousError.self) {
            try fixture.log.record(
                a, .promoted, reason: nil, current: "abc", lastGood: a, previousGood: nil, event: nil)
        }
        #expect(error?.message == "cannot record revision state promoted: current 'abc' is not a sha256")
        #expect(try fixture.count("revisions") == 0)
    }

    /// A rollback to A while C is on probation over last-good B, as the manager does it: write the row, then flip
    /// current, last-good and previous-good. A kill after the row or after any flip leaves a disk that reconcile
    /// brings to what the row says, flipping only what is still behind.
    @Test func reconcileFinishesARollbackInterruptedAtEachCrashPoint() throws {
        for flipsBeforeCrash in 0 ... 3 {
            let fixture = try Fixture()
            let (first, second, third) = try (
                fixture.artifacts.importELF("a").sha256, fixture.artifacts.importELF("b").sha256,
                fixture.artifacts.importELF("c").sha256
            )
            try fixture.store.setPointer(.current, to: third)
            try fixture.store.setPointer(.lastGood, to: second)
            try fixture.store.setPointer(.previousGood, to: first)
            let entry = try fixture.log.record(
                first, .rolledBack, reason: "operator", current: first, lastGood: first, previousGood: second,
                event: nil)
            let flips: [(ArtifactStore.Pointer, String)] = [
                (.current, first), (.lastGood, first), (.previousGood, second),
            ]
            for (pointer, target) in flips.prefix(flipsBeforeCrash) {
                try fixture.store.setPointer(pointer, to: target)
            }

            let changes = try fixture.store.reconcile(with: try fixture.log.latest())
            let behind = [
                "current: \(third) -> \(first)", "last-good: \(second) -> \(first)",
                "previous-good: \(first) -> \(second)",
            ]
            #expect(changes == Array(behind.dropFirst(flipsBeforeCrash)), "crash after \(flipsBeforeCrash) flips")
            #expect(fixture.store.pointer(.current) == entry.current)
            #expect(fixture.store.pointer(.lastGood) == entry.lastGood)
            #expect(fixture.store.pointer(.previousGood) == entry.previousGood)
            #expect(try fixture.store.reconcile(with: entry).isEmpty, "a second run changes nothing")
        }
    }

    @Test func reconcileRemovesAPointerTheLogNoLongerHasAndLeavesAnEmptyLogAlone() throws {
        let fixture = try Fixture()
        let first = try fixture.artifacts.importELF("a")
        try fixture.store.setPointer(.current, to: first.sha256)
        try fixture.store.setPointer(.previousGood, to: first.sha256)
        #expect(try fixture.store.reconcile(with: nil).isEmpty)
        #expect(fixture.store.pointer(.previousGood) == first.sha256)

        let entry = try fixture.log.record(
            first.sha256, .rolledBack, reason: "operator", current: first.sha256, lastGood: first.sha256,
            previousGood: nil, event: nil)
        #expect(
            try fixture.store.reconcile(with: entry) == [
                "last-good: none -> \(first.sha256)", "previous-good: \(first.sha256) -> none",
            ])
        #expect(fixture.store.linkTarget(.previousGood) == nil)
    }

    @Test func reconcileSetsWhatItCanAndNamesAMissingArtifact() throws {
        let fixture = try Fixture()
        let first = try fixture.artifacts.importELF("a")
        let entry = try fixture.log.record(
            c, .promoted, reason: nil, current: c, lastGood: first.sha256, previousGood: nil, event: nil)
        let error = #expect(throws: AutonousError.self) { try fixture.store.reconcile(with: entry) }
        #expect(
            error?.message
                == "cannot reconcile the revision pointers with log entry \(entry.id): current must name \(c), "
                + "which is not in \(fixture.store.directory) (changed last-good: none -> \(first.sha256))")
        #expect(fixture.store.pointer(.lastGood) == first.sha256)
    }
}

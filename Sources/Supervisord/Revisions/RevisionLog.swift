import AutonousCore
import Foundation
import GRDB

/// The append-only `revisions` table of the supervisor's database: every state change of every revision, with what
/// the `current`, `last-good` and `previous-good` symlinks must name after it.
///
/// The newest row is the write-ahead record of the symlinks: a change is committed here first and flipped on disk
/// second, so a supervisor killed in between finds the intent in the log and `ArtifactStore.reconcile(with:)`
/// finishes it.
struct RevisionLog: Sendable {
    /// A revision's state as recorded. The raw values are what the table and `autonousctl revisions` show.
    enum State: String, Codable, Sendable {
        /// In the store, never deployed.
        case imported
        /// Deployed as current, watched until the probation window ends.
        case probation
        /// Passed probation: it is last-good.
        case promoted
        /// Failed probation (or crash-looped) and was replaced by the last-good.
        case reverted
        /// Its file did not verify, or it could not be deployed.
        case refused
        /// Replaced by a newer promoted revision, or pruned.
        case retired
        /// An operator or an admin rolled back past it, to an earlier revision.
        case rolledBack = "rolled_back"
    }

    /// One row of the log.
    struct Entry: Sendable, Equatable {
        var id: Int64
        var tsMs: Int64
        var sha256: String
        var state: State
        var reason: String?
        /// What `current` must name after this change (nil: no symlink).
        var current: String?
        /// What `last-good` must name after this change.
        var lastGood: String?
        /// What `previous-good` must name after this change.
        var previousGood: String?
        /// The event recorded with this change, if any.
        var eventID: Int64?

        init(
            id: Int64, tsMs: Int64, sha256: String, state: State, reason: String?, current: String?,
            lastGood: String?, previousGood: String?, eventID: Int64? = nil
        ) {
            self.id = id
            self.tsMs = tsMs
            self.sha256 = sha256
            self.state = state
            self.reason = reason
            self.current = current
            self.lastGood = lastGood
            self.previousGood = previousGood
            self.eventID = eventID
        }

        fileprivate init(row: Row) throws {
            let stateText: String = row["state"]
            guard let state = State(rawValue: stateText) else {
                throw AutonousError(
                    .database, "the revisions row \(row["id"] as Int64) has an unknown state '\(stateText)'")
            }
            self.init(
                id: row["id"], tsMs: row["ts_ms"], sha256: row["sha256"], state: state, reason: row["reason"],
                current: row["current"], lastGood: row["last_good"], previousGood: row["previous_good"],
                eventID: row["event_id"])
        }
    }

    /// An event to append with a revision change: its type, payload and parent.
    typealias Event = (type: EventType, payload: [String: JSONValue], parentID: Int64?)

    let database: AppDatabase
    /// Milliseconds since the Unix epoch for `ts_ms`. Injected so tests can order rows.
    let now: @Sendable () -> Int64

    init(database: AppDatabase, now: @escaping @Sendable () -> Int64 = AppDatabase.nowMilliseconds) {
        self.database = database
        self.now = now
    }

    /// Appends one state change and, when given, its event, in one write transaction: both commit or neither.
    ///
    /// `current`, `lastGood` and `previousGood` are what the symlinks must name after this change (not only what
    /// changed): the newest row alone must say the whole state.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` when a sha256 is malformed, `.database` when the write fails.
    @discardableResult
    func record(
        _ sha256: String, _ state: State, reason: String?, current: String?, lastGood: String?,
        previousGood: String?, event: Event?
    ) throws -> Entry {
        let named: [(String, String?)] = [
            ("sha256", sha256), ("current", current), ("lastGood", lastGood), ("previousGood", previousGood),
        ]
        for (name, value) in named {
            guard let value else { continue }
            guard ArtifactFiles.isSHA256(value) else {
                throw AutonousError(
                    .invalidArgument,
                    "cannot record revision state \(state.rawValue): \(name) '\(value)' is not a sha256")
            }
        }
        let tsMs = now()
        do {
            return try database.pool.write { db in
                let eventID = try event.map { event in
                    try EventLog.append(db, event.type, EventContext(parentID: event.parentID), payload: event.payload)
                }
                try db.execute(
                    sql: """
                        INSERT INTO revisions (ts_ms, sha256, state, reason, current, last_good, previous_good, event_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [tsMs, sha256, state.rawValue, reason, current, lastGood, previousGood, eventID])
                return Entry(
                    id: db.lastInsertedRowID, tsMs: tsMs, sha256: sha256, state: state, reason: reason,
                    current: current, lastGood: lastGood, previousGood: previousGood, eventID: eventID)
            }
        } catch {
            throw AutonousError(
                .database, "cannot record revision \(sha256) as \(state.rawValue) in \(database.path)", cause: error)
        }
    }

    /// The newest row: what the symlinks must name now. Nil when nothing was recorded yet.
    func latest() throws -> Entry? {
        try fetch("SELECT * FROM revisions ORDER BY id DESC LIMIT 1").first
    }

    /// The newest row of one revision: its state now.
    func latest(for sha256: String) throws -> Entry? {
        try fetch("SELECT * FROM revisions WHERE sha256 = ? ORDER BY id DESC LIMIT 1", [sha256]).first
    }

    /// The newest `limit` rows, newest first.
    func history(limit: Int) throws -> [Entry] {
        try fetch("SELECT * FROM revisions ORDER BY id DESC LIMIT ?", [max(0, limit)])
    }

    /// The newest row of every revision ever recorded, by sha256.
    func states() throws -> [String: Entry] {
        let entries = try fetch(
            """
            SELECT * FROM revisions WHERE id IN (SELECT max(id) FROM revisions GROUP BY sha256)
            """)
        return Dictionary(uniqueKeysWithValues: entries.map { ($0.sha256, $0) })
    }

    private func fetch(_ sql: String, _ arguments: StatementArguments = []) throws -> [Entry] {
        do {
            return try database.pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { try Entry(row: $0) }
            }
        } catch let error as AutonousError {
            throw error
        } catch {
            throw AutonousError(.database, "cannot read the revision log in \(database.path)", cause: error)
        }
    }
}

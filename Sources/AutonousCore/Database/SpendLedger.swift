import GRDB

/// The daily spend ledger in the worker's database (`spend_ledger`): one row per model call, reserved before the
/// call at its worst case and closed after it.
///
/// A day's spend is what its closed rows counted plus the worst case of its open ones, so calls in flight in
/// several conversations can never together pass the budget. Days are UTC (`YYYY-MM-DD`): the same on every host
/// whatever its time zone, and never 23 or 25 hours long. A row belongs to the day it was reserved on, even when
/// the call ends after midnight.
///
/// States: `reserved` (the call may be running; counts its worst case), `settled` (counts the usage the API
/// reported), `released` (the call failed with no usage; counts nothing), `abandoned` (a worker stopped before
/// closing it; counts its worst case, since the call may have reached the API and been billed). Each reservation
/// is one IMMEDIATE write transaction that sums the day and inserts the row, so two writers (even two processes)
/// cannot both take the last of the budget. Closed rows never change again, and no row is ever deleted.
public struct SpendLedger: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// What one model call may spend at most.
    public struct Claim: Sendable, Equatable {
        public var runID: String?
        public var conversationID: String?
        public var model: String
        /// Estimated prompt tokens plus the completion limit asked for.
        public var tokens: Int
        /// The worst-case cost, or nil when the model has no price.
        public var cost: Dollars?

        public init(runID: String?, conversationID: String?, model: String, tokens: Int, cost: Dollars?) {
            self.runID = runID
            self.conversationID = conversationID
            self.model = model
            self.tokens = tokens
            self.cost = cost
        }
    }

    /// A day's spend: closed rows at what they counted, open reservations at their worst case.
    public struct Totals: Sendable, Equatable {
        public var tokens: Int64
        public var cost: Dollars
        /// Reservations still open (calls in flight).
        public var open: Int

        public init(tokens: Int64, cost: Dollars, open: Int) {
            self.tokens = tokens
            self.cost = cost
            self.open = open
        }
    }

    /// Which budget a claim did not fit.
    public enum Limit: String, Sendable, Equatable {
        case tokens, cost
    }

    /// The answer to `reserve`.
    public enum Reservation: Sendable, Equatable {
        /// The claim fits; `id` names its row, to settle or release.
        case reserved(id: Int64)
        /// The claim does not fit `limit`; `totals` is the day's spend before it.
        case refused(Limit, totals: Totals)
    }

    /// The table, created by the worker's migration `w6-spend-ledger`.
    static let table = """
        CREATE TABLE spend_ledger (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            day TEXT NOT NULL CHECK (length(day) = 10),
            run_id TEXT,
            conversation_id TEXT,
            model TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'reserved'
                CHECK (state IN ('reserved', 'settled', 'released', 'abandoned')),
            reserved_tokens INTEGER NOT NULL CHECK (reserved_tokens >= 0),
            reserved_cost_microusd INTEGER CHECK (reserved_cost_microusd IS NULL OR reserved_cost_microusd >= 0),
            input_tokens INTEGER,
            cached_tokens INTEGER,
            output_tokens INTEGER,
            tokens INTEGER CHECK (tokens IS NULL OR tokens >= 0),
            cost_microusd INTEGER CHECK (cost_microusd IS NULL OR cost_microusd >= 0),
            error_class TEXT,
            reserved_ms INTEGER NOT NULL,
            closed_ms INTEGER,
            CHECK ((state = 'reserved') = (closed_ms IS NULL))
        );
        CREATE INDEX spend_ledger_day ON spend_ledger(day, state);
        CREATE INDEX spend_ledger_open ON spend_ledger(state) WHERE state = 'reserved';
        CREATE TRIGGER spend_ledger_closed_immutable BEFORE UPDATE ON spend_ledger WHEN OLD.state <> 'reserved'
        BEGIN SELECT RAISE(ABORT, 'a closed spend ledger row is immutable'); END;
        CREATE TRIGGER spend_ledger_no_delete BEFORE DELETE ON spend_ledger
        BEGIN SELECT RAISE(ABORT, 'spend ledger rows are never deleted'); END;
        """

    /// Reserves `claim` against `day` when the day's spend plus the claim stays within both limits (nil: none).
    ///
    /// - Throws: the database's error when the ledger cannot be read or written; the caller must then refuse
    ///   the call.
    public func reserve(
        _ claim: Claim, day: String, tokenLimit: Int?, costLimit: Dollars?, now: Int64
    ) throws -> Reservation {
        try reserve(claim, day: day, tokenLimit: tokenLimit, costLimit: costLimit, now: now) { _ in }.reservation
    }

    /// `reserve`, with `alongside` run first in the same transaction: the caller's records of the step that asks
    /// (a turn's start event, say) commit with the reservation or its refusal, or not at all.
    ///
    /// - Returns: the reservation and what `alongside` returned.
    /// - Throws: the database's error, or `alongside`'s; nothing is written then.
    public func reserve<Written>(
        _ claim: Claim, day: String, tokenLimit: Int?, costLimit: Dollars?, now: Int64,
        alongside: (Database) throws -> Written
    ) throws -> (reservation: Reservation, written: Written) {
        try database.pool.writeWithoutTransaction { db in
            var result: (Reservation, Written)?
            try db.inTransaction(.immediate) {
                let written = try alongside(db)
                result = (
                    try Self.claim(claim, db, day: day, tokenLimit: tokenLimit, costLimit: costLimit, now: now),
                    written
                )
                return .commit
            }
            guard let result else { throw DatabaseError(message: "the spend ledger's transaction did not run") }
            return result
        }
    }

    /// Sums `day` and inserts `claim`'s row when it fits both limits, inside the caller's IMMEDIATE transaction.
    private static func claim(
        _ claim: Claim, _ db: Database, day: String, tokenLimit: Int?, costLimit: Dollars?, now: Int64
    ) throws -> Reservation {
        let totals = try Self.totals(db, day: day)
        if let tokenLimit, totals.tokens + Int64(claim.tokens) > Int64(tokenLimit) {
            return .refused(.tokens, totals: totals)
        }
        if let costLimit, (totals.cost + (claim.cost ?? .zero)) > costLimit {
            return .refused(.cost, totals: totals)
        }
        try db.executeCached(
            sql: """
                INSERT INTO spend_ledger (day, run_id, conversation_id, model, reserved_tokens,
                    reserved_cost_microusd, reserved_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                day, claim.runID, claim.conversationID, claim.model, claim.tokens, claim.cost?.microdollars, now,
            ])
        return .reserved(id: db.lastInsertedRowID)
    }

    /// Closes reservation `id` with the usage the API reported; `cost` is nil for a model without a price.
    ///
    /// - Returns: false when the reservation was already closed (nothing changes then).
    @discardableResult
    public func settle(
        id: Int64, inputTokens: Int, cachedTokens: Int, outputTokens: Int, cost: Dollars?, now: Int64
    ) throws -> Bool {
        try database.pool.write { db in
            try Self.settle(
                db, id: id, inputTokens: inputTokens, cachedTokens: cachedTokens, outputTokens: outputTokens,
                cost: cost, now: now)
        }
    }

    /// `settle` inside the caller's write transaction.
    @discardableResult
    public static func settle(
        _ db: Database, id: Int64, inputTokens: Int, cachedTokens: Int, outputTokens: Int, cost: Dollars?, now: Int64
    ) throws -> Bool {
        try db.executeCached(
            sql: """
                UPDATE spend_ledger SET state = 'settled', input_tokens = ?, cached_tokens = ?,
                    output_tokens = ?, tokens = ?, cost_microusd = ?, closed_ms = ?
                WHERE id = ? AND state = 'reserved'
                """,
            arguments: [
                inputTokens, cachedTokens, outputTokens, max(inputTokens, 0) + max(outputTokens, 0),
                cost?.microdollars, now, id,
            ])
        return db.changesCount == 1
    }

    /// Closes reservation `id` of a call that answered without reporting usage: it counts its worst case.
    ///
    /// - Returns: false when the reservation was already closed.
    @discardableResult
    public func settleAtWorstCase(id: Int64, now: Int64) throws -> Bool {
        try database.pool.write { db in try Self.settleAtWorstCase(db, id: id, now: now) }
    }

    /// `settleAtWorstCase` inside the caller's write transaction.
    @discardableResult
    public static func settleAtWorstCase(_ db: Database, id: Int64, now: Int64) throws -> Bool {
        try db.executeCached(
            sql: """
                UPDATE spend_ledger SET state = 'settled', tokens = reserved_tokens,
                    cost_microusd = reserved_cost_microusd, closed_ms = ?
                WHERE id = ? AND state = 'reserved'
                """,
            arguments: [now, id])
        return db.changesCount == 1
    }

    /// Closes reservation `id` of a call that failed without usage: it counts nothing.
    ///
    /// - Returns: false when the reservation was already closed.
    @discardableResult
    public func release(id: Int64, errorClass: String?, now: Int64) throws -> Bool {
        try database.pool.write { db in try Self.release(db, id: id, errorClass: errorClass, now: now) }
    }

    /// `release` inside the caller's write transaction.
    @discardableResult
    public static func release(_ db: Database, id: Int64, errorClass: String?, now: Int64) throws -> Bool {
        try db.executeCached(
            sql: """
                UPDATE spend_ledger SET state = 'released', tokens = 0, cost_microusd = 0, error_class = ?,
                    closed_ms = ?
                WHERE id = ? AND state = 'reserved'
                """,
            arguments: [errorClass, now, id])
        return db.changesCount == 1
    }

    /// Closes every open reservation as `abandoned`, at its worst case. Called once when the worker starts: no call
    /// of this process is in flight yet, so every open row was left by a worker that stopped.
    ///
    /// - Returns: how many rows it closed.
    @discardableResult
    public func abandonOpen(now: Int64) throws -> Int {
        try database.pool.write { db in
            try db.executeCached(
                sql: """
                    UPDATE spend_ledger SET state = 'abandoned', tokens = reserved_tokens,
                        cost_microusd = reserved_cost_microusd, closed_ms = ?
                    WHERE state = 'reserved'
                    """,
                arguments: [now])
            return db.changesCount
        }
    }

    /// The spend of `day`.
    public func totals(day: String) throws -> Totals {
        try database.pool.read { db in try Self.totals(db, day: day) }
    }

    static func totals(_ db: Database, day: String) throws -> Totals {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT
                        COALESCE(SUM(CASE WHEN state = 'reserved' THEN reserved_tokens ELSE tokens END), 0) AS tokens,
                        COALESCE(SUM(CASE WHEN state = 'reserved' THEN reserved_cost_microusd ELSE cost_microusd END), 0)
                            AS cost,
                        COUNT(CASE WHEN state = 'reserved' THEN 1 END) AS open
                    FROM spend_ledger WHERE day = ?
                    """),
            arguments: [day])
        return Totals(
            tokens: row?["tokens"] ?? 0, cost: Dollars(microdollars: row?["cost"] ?? 0), open: row?["open"] ?? 0)
    }

    /// The UTC day (`YYYY-MM-DD`) of a time in milliseconds since the Unix epoch.
    public static func day(unixMilliseconds: Int64) -> String {
        // Days since the epoch to the proleptic Gregorian calendar (Howard Hinnant's civil_from_days).
        let days = unixMilliseconds >= 0 ? unixMilliseconds / 86_400_000 : (unixMilliseconds + 1) / 86_400_000 - 1
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }
}

import AutonousCore
import Foundation
import GRDB

/// The self-update transactions in the supervisor's database: `transactions` (each one's state now),
/// `transaction_steps` (append-only history) and `update_approvals` (append-only decisions).
///
/// Every change is one SQLite write transaction: the state is read, the transition checked against
/// `TransactionState.legalNext`, the row updated, the step appended and its event (`update.<state>`) recorded,
/// all inside it, so two callers racing on one transaction cannot both move it, and a crash keeps all or nothing.
/// Each step's event is a child of the transaction's `update.created` event and carries the proposing run's id.
struct TransactionStore: Sendable {
    let database: AppDatabase
    /// Milliseconds since the Unix epoch for timestamps. Injected so tests order rows and pass deadlines.
    let now: @Sendable () -> Int64
    /// Makes new ids; injected so tests can force a collision.
    let newID: @Sendable () -> String

    init(
        database: AppDatabase, now: @escaping @Sendable () -> Int64 = AppDatabase.nowMilliseconds,
        newID: @escaping @Sendable () -> String = Transaction.newID
    ) {
        self.database = database
        self.now = now
        self.newID = newID
    }

    /// Records a proposal as a new `created` transaction, with its first step and its `update.created` event.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` when a field is malformed (empty title or summary, a sha256 that is
    ///   not 64 lowercase hex digits, a commit that is not hex, an empty patch), `.database` when the write fails.
    func create(_ proposal: Transaction.Proposal) throws -> Transaction {
        try Self.validate(proposal)
        let tsMs = now()
        return try write("create a transaction") { db in
            var id = newID()
            var attempts = 1
            while try Bool.fetchOne(db, sql: "SELECT 1 FROM transactions WHERE id = ?", arguments: [id]) == true {
                guard attempts < 8 else {
                    throw AutonousError(.internalError, "cannot find a free transaction id after \(attempts) tries")
                }
                id = newID()
                attempts += 1
            }
            try db.execute(
                sql: """
                    INSERT INTO transactions (id, state, created_ms, updated_ms, title, summary, requested_by, run_id,
                        base_revision, base_commit, patch_sha256, patch_bytes)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, TransactionState.created.rawValue, tsMs, tsMs, proposal.title, proposal.summary,
                    proposal.requestedBy, proposal.runID, proposal.baseRevision, proposal.baseCommit,
                    proposal.patchSHA256, proposal.patchBytes,
                ])
            let payload: [String: JSONValue] = [
                "tx": .string(id), "to": .string(TransactionState.created.rawValue), "title": .string(proposal.title),
                "requested_by": .string(proposal.requestedBy), "base_revision": .string(proposal.baseRevision),
                "patch_sha256": .string(proposal.patchSHA256), "patch_bytes": .int(proposal.patchBytes),
            ]
            let eventID = try EventLog.append(
                db, TransactionState.created.eventType, EventContext(runID: proposal.runID), payload: payload)
            try Self.appendStep(db, id, tsMs: tsMs, from: nil, to: .created, reason: nil, eventID: eventID)
            guard let created = try Self.fetch(db, id) else { throw TransactionError.notFound(id) }
            return created
        }
    }

    /// Moves transaction `id` to `state`, setting `fields`, with its step and event, in one write transaction.
    ///
    /// Legality is checked inside the transaction against the state read there. `approved` and `rejected` are
    /// reached only through `recordDecision`. Entering an in-flight state while another transaction is in flight is
    /// refused (one pipeline at a time), and `staged` needs a commit, an artifact sha256 and a deadline.
    ///
    /// - Throws: `TransactionError` (`notFound`, `illegalTransition` naming the current state, `decisionRequired`,
    ///   `busy`, `missingField`); `AutonousError(.invalidArgument)` for a malformed field; `.database`.
    @discardableResult
    func transition(
        _ id: String, to state: TransactionState, reason: String?, fields: Transaction.Update? = nil
    ) throws -> Transaction {
        guard !state.needsDecision else { throw TransactionError.decisionRequired(id, to: state) }
        if let fields { try Self.validate(fields) }
        let tsMs = now()
        return try write("move transaction \(id) to \(state.rawValue)") { db in
            guard let current = try Self.fetch(db, id) else { throw TransactionError.notFound(id) }
            return try Self.move(db, current, to: state, reason: reason, fields: fields, tsMs: tsMs)
        }
    }

    /// The transaction with this id, or nil.
    func get(_ id: String) throws -> Transaction? {
        try read { db in try Self.fetch(db, id) }
    }

    /// The newest `limit` transactions, newest first.
    func list(limit: Int) throws -> [Transaction] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM transactions ORDER BY created_ms DESC, rowid DESC LIMIT ?",
                arguments: [max(0, limit)]
            ).map(Transaction.init(row:))
        }
    }

    /// The transaction being built, tested, self-checked, deployed or watched, if any: there is at most one.
    func inFlight() throws -> Transaction? {
        try read { db in try Self.inFlight(db, except: nil) }
    }

    /// The oldest `created` transaction, when none is in flight: the next the pipeline should start.
    func nextQueued() throws -> Transaction? {
        try read { db in
            guard try Self.inFlight(db, except: nil) == nil else { return nil }
            return try Row.fetchOne(
                db, sql: "SELECT * FROM transactions WHERE state = ? ORDER BY created_ms, rowid LIMIT 1",
                arguments: [TransactionState.created.rawValue]
            ).map(Transaction.init(row:))
        }
    }

    /// Every step of transaction `id`, oldest first (the first is its creation).
    func steps(_ id: String) throws -> [Transaction.Step] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM transaction_steps WHERE tx = ? ORDER BY id", arguments: [id])
                .map(Transaction.Step.init(row:))
        }
    }

    // MARK: - Inside a write transaction

    /// Checks and applies one transition of `current` (read in this transaction) and appends its step and event.
    static func move(
        _ db: Database, _ current: Transaction, to state: TransactionState, reason: String?,
        fields: Transaction.Update?, tsMs: Int64, payload extra: [String: JSONValue] = [:]
    ) throws -> Transaction {
        let id = current.id
        guard current.state.canMove(to: state) else {
            throw TransactionError.illegalTransition(id, from: current.state, to: state)
        }
        if state.isInFlight, let running = try inFlight(db, except: id) {
            throw TransactionError.busy(id, running: running.id, state: running.state)
        }
        var next = current
        next.apply(fields)
        if state == .staged {
            let required: [(String, Bool)] = [
                ("a commit", next.commit == nil), ("an artifact sha256", next.artifactSHA256 == nil),
                ("an approval deadline", next.expiresMs == nil),
            ]
            if let (field, _) = required.first(where: \.1) {
                throw TransactionError.missingField(id, state: state, field: field)
            }
        }
        next.state = state
        next.updatedMs = tsMs
        next.reason = reason ?? current.reason
        try db.execute(
            sql: """
                UPDATE transactions SET state = ?, updated_ms = ?, reason = ?, "commit" = ?, artifact_sha256 = ?,
                    diffstat = ?, tests_passed = ?, tests_failed = ?, expires_ms = ?
                WHERE id = ?
                """,
            arguments: [
                state.rawValue, tsMs, next.reason, next.commit, next.artifactSHA256, next.diffstat, next.testsPassed,
                next.testsFailed, next.expiresMs, id,
            ])
        var payload = extra
        payload["tx"] = .string(id)
        payload["from"] = .string(current.state.rawValue)
        payload["to"] = .string(state.rawValue)
        if let reason { payload["reason"] = .string(reason) }
        if let fields { payload.merge(fields.payload) { _, new in new } }
        let parent = try creationEventID(db, id)
        let eventID = try EventLog.append(
            db, state.eventType, EventContext(parentID: parent, runID: current.proposal.runID), payload: payload)
        try appendStep(db, id, tsMs: tsMs, from: current.state, to: state, reason: reason, eventID: eventID)
        return next
    }

    static func fetch(_ db: Database, _ id: String) throws -> Transaction? {
        try Row.fetchOne(db, sql: "SELECT * FROM transactions WHERE id = ?", arguments: [id]).map(Transaction.init)
    }

    /// The oldest in-flight transaction other than `except`.
    static func inFlight(_ db: Database, except: String?) throws -> Transaction? {
        let states = TransactionState.allCases.filter(\.isInFlight).map(\.rawValue)
        let marks = databaseQuestionMarks(count: states.count)
        return try Row.fetchOne(
            db,
            sql: """
                SELECT * FROM transactions WHERE state IN (\(marks)) AND id IS NOT ?
                ORDER BY created_ms, rowid LIMIT 1
                """,
            arguments: StatementArguments(states) + [except]
        ).map(Transaction.init(row:))
    }

    private static func appendStep(
        _ db: Database, _ id: String, tsMs: Int64, from: TransactionState?, to: TransactionState, reason: String?,
        eventID: Int64
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO transaction_steps (tx, ts_ms, from_state, to_state, reason, event_id)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [id, tsMs, from?.rawValue, to.rawValue, reason, eventID])
    }

    // MARK: - Plumbing

    /// Runs `body` in one write transaction; errors other than the store's own become `AutonousError(.database)`.
    func write<T>(_ what: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try database.pool.write(body)
        } catch let error as TransactionError {
            throw error
        } catch let error as AutonousError {
            throw error
        } catch {
            throw AutonousError(.database, "cannot \(what) in \(database.path)", cause: error)
        }
    }

    /// Runs `body` on a read snapshot; errors other than `AutonousError` become `AutonousError(.database)`.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.pool.read(body)
        } catch let error as AutonousError {
            throw error
        } catch {
            throw AutonousError(.database, "cannot read the transactions in \(database.path)", cause: error)
        }
    }
}

import AutonousCore
import GRDB

extension TransactionStore {
    /// The event type of a refused update decision (who tried, how, and why it was refused).
    static let decisionRefusedEvent = EventType.updateDecisionRefused

    /// Records an admin's decision: the `update_approvals` row, the transition to `approved` or `rejected` and its
    /// event, in one write transaction.
    ///
    /// The rules (`UpdateApproval.check`) run inside that transaction on the state read there, so of two decisions at
    /// once exactly one is recorded and the other is refused as already decided. A refusal is recorded as an
    /// `update.decision_refused` event; a decision that arrives after the deadline also moves a staged transaction to
    /// `expired` (committed, then thrown).
    ///
    /// - Throws: `UpdateApprovalError` when a rule refuses the decision, `TransactionError.notFound` for an unknown
    ///   id, `AutonousError(.database)` when the write fails.
    @discardableResult
    func recordDecision(
        _ request: UpdateDecisionRequest, admins: [Int64], mode: UpdateApprovalMode, relay: RelayTrust
    ) throws -> Transaction {
        let tsMs = now()
        let id = request.transactionID
        let outcome: Result<Transaction, UpdateApprovalError> = try write("record a decision on \(id)") { db in
            guard let current = try Self.fetch(db, id) else { throw TransactionError.notFound(id) }
            let attempt: [String: JSONValue] = [
                "decision": .string(request.decision.rawValue), "decided_by": .string(request.decidedBy),
                "via": .string(request.via.name), "artifact_sha256": .string(request.artifactSHA256),
            ]
            switch UpdateApproval.check(
                request: request, transaction: current, now: tsMs, admins: admins, mode: mode, relay: relay)
            {
            case .failure(let refusal):
                if case .expired = refusal {
                    _ = try Self.move(
                        db, current, to: .expired, reason: Self.deadlinePassed, fields: nil, tsMs: tsMs)
                }
                var payload = attempt
                payload["tx"] = .string(id)
                payload["reason"] = .string(refusal.description)
                try EventLog.append(
                    db, Self.decisionRefusedEvent,
                    EventContext(parentID: try Self.creationEventID(db, id), runID: current.proposal.runID),
                    payload: payload)
                return .failure(refusal)
            case .success:
                let decided = try Self.move(
                    db, current, to: request.decision.state,
                    reason: request.decision.state.rawValue + " by "
                        + request.decidedBy, fields: nil, tsMs: tsMs, payload: attempt)
                let eventID = try Int64.fetchOne(
                    db, sql: "SELECT event_id FROM transaction_steps WHERE tx = ? ORDER BY id DESC LIMIT 1",
                    arguments: [id])
                try db.execute(
                    sql: """
                        INSERT INTO update_approvals (tx, artifact_sha256, decision, decided_by, via, ts_ms, event_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        id, request.artifactSHA256, request.decision.rawValue, request.decidedBy, request.via.name,
                        tsMs, eventID,
                    ])
                return .success(decided)
            }
        }
        return try outcome.get()
    }

    /// Moves transaction `id` to `expired` when it is staged and its deadline is at or before `now`.
    ///
    /// - Returns: the transaction as it is afterwards (unchanged when nothing was due).
    /// - Throws: `TransactionError.notFound`, `AutonousError(.database)`.
    @discardableResult
    func expireIfDue(_ id: String, now nowMs: Int64) throws -> Transaction {
        try write("expire transaction \(id)") { db in
            guard let current = try Self.fetch(db, id) else { throw TransactionError.notFound(id) }
            guard current.state == .staged, let expiresMs = current.expiresMs, expiresMs <= nowMs else {
                return current
            }
            return try Self.move(db, current, to: .expired, reason: Self.deadlinePassed, fields: nil, tsMs: nowMs)
        }
    }

    /// Resolves what a supervisor restart interrupted, one write transaction per transaction.
    ///
    /// `building`, `testing` and `self_checking` end as `build_failed`, `test_failed` and `self_check_failed` with
    /// the reason "interrupted: the supervisor restarted"; a staged transaction whose deadline passed ends `expired`.
    /// `deploying` and `probation` are left to the revision lifecycle, which finishes or reverts them.
    ///
    /// - Returns: every transaction it changed, then every one still deploying or on probation, oldest first.
    func resolveInterrupted(now nowMs: Int64) throws -> [Transaction] {
        let interrupted: [TransactionState: TransactionState] = [
            .building: .buildFailed, .testing: .testFailed, .selfChecking: .selfCheckFailed,
        ]
        let open = try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM transactions WHERE state IN (?, ?, ?, ?, ?, ?) ORDER BY created_ms, rowid",
                arguments: [
                    TransactionState.building.rawValue, TransactionState.testing.rawValue,
                    TransactionState.selfChecking.rawValue, TransactionState.staged.rawValue,
                    TransactionState.deploying.rawValue, TransactionState.probation.rawValue,
                ]
            ).map(Transaction.init(row:))
        }
        var changed: [Transaction] = []
        var deploying: [Transaction] = []
        for transaction in open {
            switch transaction.state {
            case .staged:
                let after = try expireIfDue(transaction.id, now: nowMs)
                if after.state != transaction.state { changed.append(after) }
            case .deploying, .probation:
                deploying.append(transaction)
            default:
                guard let end = interrupted[transaction.state] else { continue }
                changed.append(try transition(transaction.id, to: end, reason: Self.interruptedReason))
            }
        }
        return changed + deploying
    }

    /// The reason recorded for a pipeline step a restart interrupted.
    static let interruptedReason = "interrupted: the supervisor restarted"
    /// The reason recorded when nobody decided in time.
    static let deadlinePassed = "nobody decided before the approval deadline"

    /// The `update.created` event of transaction `id`: the parent of its other events.
    static func creationEventID(_ db: Database, _ id: String) throws -> Int64? {
        try Int64.fetchOne(
            db, sql: "SELECT event_id FROM transaction_steps WHERE tx = ? ORDER BY id LIMIT 1", arguments: [id])
    }
}

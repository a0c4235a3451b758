import AutonousCore
import GRDB
import Logging

/// A model call's place in the budget, reserved at its worst case by `AgentControl.admitModelCall`. Settle it, or
/// cancel it, exactly once when the call ends.
struct ModelCallReservation: Sendable, Equatable {
    /// The spend ledger's row.
    let ledgerID: Int64
    /// The run it belongs to.
    let runID: String
    let model: String
    /// The worst case reserved: estimated prompt tokens plus the completion limit.
    let tokens: Int
    /// The worst-case cost, or nil when the model has no price.
    let cost: Dollars?
    /// What the circuit breaker must be told.
    let ticket: CircuitBreaker.Ticket
}

/// The answer to `AgentControl.admitModelCall`.
enum Admission: Sendable, Equatable {
    /// Make the call, then settle the reservation.
    case allowed(ModelCallReservation)
    /// Do not make the call; the run stops for this reason.
    case refused(StopReason)
}

/// The token counts the API reported for a call (`usage`); `cachedTokens` are part of `inputTokens`.
struct ModelUsage: Sendable, Equatable {
    var inputTokens: Int
    var cachedTokens: Int
    var outputTokens: Int

    init(inputTokens: Int, cachedTokens: Int = 0, outputTokens: Int) {
        self.inputTokens = inputTokens
        self.cachedTokens = cachedTokens
        self.outputTokens = outputTokens
    }

    /// Prompt and completion tokens together, as the budgets count them.
    var totalTokens: Int { max(inputTokens, 0) + max(outputTokens, 0) }
}

/// What a run used, for `runs` and the run's last event.
struct RunSummary: Sendable, Equatable {
    /// Model calls that answered.
    var turns: Int
    /// Tokens the API reported (worst cases for calls that answered without usage).
    var tokens: Int
    /// Dollars, when the models used have prices.
    var cost: Dollars
    var elapsed: Duration
    /// Why the control plane stopped it, if it did.
    var stopReason: StopReason?
}

/// The spend ledger write that closes a reservation, for the caller to run inside the transaction that records the
/// call (`AgentControl.close`): the ledger row changes with the model call's record, or not at all.
struct LedgerClose: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// With the usage the API reported, at its price.
        case settled(ModelUsage, cost: Dollars?)
        /// Answered without usage: the worst case counts.
        case settledAtWorstCase
        /// Failed or cancelled: nothing counts.
        case released(errorClass: String?)
    }

    let ledgerID: Int64
    let kind: Kind
    /// When the call ended, in milliseconds since the Unix epoch.
    let closedMs: Int64

    /// Writes the close. A reservation closed already stays as it was.
    func write(_ db: Database) throws {
        switch kind {
        case .settled(let usage, let cost):
            try SpendLedger.settle(
                db, id: ledgerID, inputTokens: usage.inputTokens, cachedTokens: usage.cachedTokens,
                outputTokens: usage.outputTokens, cost: cost, now: closedMs)
        case .settledAtWorstCase:
            try SpendLedger.settleAtWorstCase(db, id: ledgerID, now: closedMs)
        case .released(let errorClass):
            try SpendLedger.release(db, id: ledgerID, errorClass: errorClass, now: closedMs)
        }
    }

    /// Writes the close in a transaction of its own: for a call whose record did not commit, or that has no record
    /// to commit with. A failure is logged; the reservation then stays open at its worst case, and the worker's
    /// next start closes it as abandoned at that worst case.
    func writeAlone(to database: AppDatabase, runID: String, logger: Logger) {
        do {
            try database.pool.write { db in try write(db) }
        } catch {
            logger.error(
                "cannot close a spend ledger reservation; it counts its worst case until the next start",
                metadata: ["run_id": "\(runID)", "ledger.id": "\(ledgerID)", "error": "\(error)"])
        }
    }
}

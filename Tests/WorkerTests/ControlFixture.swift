import AutonousCore
import Foundation

@testable import Worker

/// A control plane over a fresh worker database (migrated as the worker opens it) and a manual clock.
final class ControlFixture {
    let database: TemporaryWorkerDatabase
    let clock: ManualClock
    let control: AgentControl
    var ledger: SpendLedger { SpendLedger(database: database.database) }

    init(_ settings: AgentControl.Settings = AgentControl.Settings(), clock: ManualClock = ManualClock()) throws {
        database = try TemporaryWorkerDatabase(prefix: "control-")
        self.clock = clock
        control = AgentControl(
            settings: settings, ledger: SpendLedger(database: database.database), clock: clock,
            jitter: FixedJitter(1))
    }

    /// Another control plane over the same database file, as a second worker process would have.
    func secondControl(_ settings: AgentControl.Settings) throws -> AgentControl {
        let other = try AppDatabase(path: database.database.path, role: .worker)
        return AgentControl(settings: settings, ledger: SpendLedger(database: other), clock: clock)
    }

    /// Today's spend in the ledger.
    func today() throws -> SpendLedger.Totals {
        try ledger.totals(day: SpendLedger.day(unixMilliseconds: clock.unixMilliseconds))
    }

    /// The states of the ledger's rows, oldest first.
    func ledgerStates() throws -> [String] {
        try database.database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM spend_ledger ORDER BY id")
        }
    }
}

/// A jitter source that always returns the same fraction.
struct FixedJitter: JitterSource {
    var value: Double

    init(_ value: Double) { self.value = value }

    mutating func fraction() -> Double { value }
}

extension Admission {
    /// The reservation of an allowed call, nil for a refusal.
    var reservation: ModelCallReservation? {
        if case .allowed(let reservation) = self { return reservation }
        return nil
    }

    /// The reason of a refusal, nil when allowed.
    var refusal: StopReason? {
        if case .refused(let reason) = self { return reason }
        return nil
    }
}

extension AgentControl {
    /// `admitModelCall` in fewer words: run, estimated prompt tokens, completion limit, model (default `m`).
    func admit(_ runID: String, prompt: Int, completion: Int, model: String = "m") -> Admission {
        admitModelCall(runID: runID, model: model, estimatedPromptTokens: prompt, maxCompletionTokens: completion)
    }
}

import AutonousCore
import Foundation
import GRDB

/// The short status an admin's `/status` gets in Telegram: the revision, the model, what runs now, and today's
/// model use.
struct ChatStatus: Sendable {
    let revision: String
    /// `openai gpt-4o-mini`, or nil when no model is configured.
    let model: String?
    let counters: WorkerCounters
    let runs: ActiveRuns
    let database: AppDatabase
    /// `AUTONOUS_DAILY_TOKEN_BUDGET` and `AUTONOUS_DAILY_COST_BUDGET`, which today's spend is shown against.
    let budget: DailyBudget

    func text(now: Int64 = AppDatabase.nowMilliseconds()) -> String {
        let counters = self.counters.snapshot
        var lines = [
            "autonous worker, revision \(revision.prefix(12))",
            "model: " + (model ?? "not configured (OPENAI_API_KEY, AUTONOUS_MODEL)"),
            "runs now: \(runs.chats.count); messages waiting: \(counters.inboxQueued)",
        ]
        if let today = try? todaysSpend(now: now) { lines.append(today) }
        if let error = counters.lastError { lines.append("last error: \(error.prefix(300))") }
        return lines.joined(separator: "\n")
    }

    /// Today's model calls and what they spent, from the spend ledger the budget is checked against (reservations
    /// of calls still in flight included), beside the budget.
    private func todaysSpend(now: Int64) throws -> String {
        let dayStart = now - now % 86_400_000
        let calls = try database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM model_calls WHERE ts_ms >= ?", arguments: [dayStart]) ?? 0
        }
        let spent = try SpendLedger(database: database).totals(day: SpendLedger.day(unixMilliseconds: now))
        var line = "today (UTC): \(calls) model calls, \(spent.tokens) tokens"
        if let tokens = budget.tokens {
            let share = tokens > 0 ? " (\(Int64(100) * spent.tokens / Int64(tokens))%)" : ""
            line += " of \(tokens)\(share)"
        } else {
            line += " (no daily limit)"
        }
        if spent.cost > .zero || budget.cost != nil {
            line += ", \(spent.cost)" + (budget.cost.map { " of \($0)" } ?? "")
        }
        return line
    }
}

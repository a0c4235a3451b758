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

    func text(now: Int64 = AppDatabase.nowMilliseconds()) -> String {
        let counters = self.counters.snapshot
        var lines = [
            "autonous worker, revision \(revision.prefix(12))",
            "model: " + (model ?? "not configured (OPENAI_API_KEY, AUTONOUS_MODEL)"),
            "runs now: \(runs.chats.count); messages waiting: \(counters.inboxQueued ?? 0)",
        ]
        let dayStart = now - now % 86_400_000
        let today = try? database.pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) AS calls, COALESCE(SUM(input_tokens), 0) AS input,
                        COALESCE(SUM(output_tokens), 0) AS output
                    FROM model_calls WHERE ts_ms >= ?
                    """,
                arguments: [dayStart])
        }
        if let today {
            let calls: Int = today["calls"]
            let input: Int = today["input"]
            let output: Int = today["output"]
            lines.append("today (UTC): \(calls) model calls, \(input) tokens in, \(output) out")
        }
        if let error = counters.lastError { lines.append("last error: \(error.prefix(300))") }
        return lines.joined(separator: "\n")
    }
}

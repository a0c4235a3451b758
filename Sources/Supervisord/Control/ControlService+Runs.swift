import AutonousCore
import Foundation

/// `ListRuns`, `TraceRun` and `GetUsage`: agent runs and what they spent, read from the worker's database
/// (read-only).
extension ControlService {
    /// The most `ListRuns` returns, and what it returns when the caller names no limit.
    static let runLimits = (maximum: 1000, default: 50)
    /// How far back `GetUsage` looks when the caller names no time.
    static let defaultUsageWindowMs: Int64 = 7 * 86_400_000

    func runList(_ request: ControlInterface.ListRunsRequest) throws -> ControlInterface.RunList {
        let limit = request.limit ?? Self.runLimits.default
        guard (1 ... Self.runLimits.maximum).contains(limit) else {
            throw Self.invalidValue("limit", "limit must be between 1 and \(Self.runLimits.maximum), got \(limit)")
        }
        let sinceMs = try Self.validSince(request.sinceMs) ?? 0
        try Self.checkIdentifier("conversationId", request.conversationId)
        // No worker database yet: no run yet.
        guard let database = try? workerState.database() else { return ControlInterface.RunList(runs: []) }
        let runs = try database.pool.read { db in
            try RunLog.list(db, sinceMs: sinceMs, conversationID: request.conversationId, limit: limit)
        }
        return ControlInterface.RunList(runs: runs)
    }

    func runTrace(_ request: ControlInterface.TraceRunRequest) throws -> ControlInterface.TraceRunResponse {
        try Self.checkIdentifier("id", request.id)
        let trace = try (try? workerState.database())?.pool.read { db in try RunLog.trace(db, id: request.id) }
        guard let trace else {
            throw VarlinkError("io.autonous.Control.NoSuchRun", ["id": .string(request.id)])
        }
        return ControlInterface.TraceRunResponse(trace: trace)
    }

    func usage(_ request: ControlInterface.GetUsageRequest) throws -> UsageReport {
        let grouping = try request.by.map { text in
            guard let grouping = UsageReport.Grouping(rawValue: text) else {
                throw Self.invalidValue("by", "by is day or model, got '\(text.prefix(40))'")
            }
            return grouping
        }
        let nowMs = AppDatabase.nowMilliseconds()
        let sinceMs = try Self.validSince(request.sinceMs) ?? nowMs - Self.defaultUsageWindowMs
        let (prices, budget) = (configuration.priceTable, configuration.dailyBudget)
        guard let database = try? workerState.database() else {
            // No worker database yet: nothing spent.
            let today = UsageReport.Today(
                day: SpendLedger.day(unixMilliseconds: nowMs), tokens: 0, costUsd: 0, openReservations: 0,
                tokenBudget: budget.tokens, costBudgetUsd: budget.cost.map { Double($0.microdollars) / 1_000_000 })
            return UsageReport(by: grouping ?? .day, sinceMs: sinceMs, rows: [], today: today)
        }
        return try database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: sinceMs, by: grouping ?? .day, prices: prices, budget: budget, nowMs: nowMs)
        }
    }

    /// `InvalidValue` naming the parameter and what is wrong with it.
    static func invalidValue(_ parameter: String, _ message: String) -> VarlinkError {
        VarlinkError(
            "io.autonous.Control.InvalidValue", ["parameter": .string(parameter), "message": .string(message)])
    }

    /// A time in Unix milliseconds from the caller; before 1970 is refused.
    private static func validSince(_ sinceMs: Int64?) throws -> Int64? {
        if let sinceMs, sinceMs < 0 {
            throw invalidValue("sinceMs", "sinceMs is Unix milliseconds and cannot be before 1970, got \(sinceMs)")
        }
        return sinceMs
    }

    /// A run or conversation id: 1 to 256 bytes.
    static func checkIdentifier(_ name: String, _ value: String?) throws {
        if let value, value.isEmpty || value.utf8.count > 256 {
            throw invalidValue(name, "\(name) must be 1 to 256 bytes long")
        }
    }
}

import GRDB

/// Tokens and cost of the model calls since a time, per UTC day or per model, and today's spend against the daily
/// budget: what `autonousctl usage` shows (`GetUsage` in io.autonous.Control).
public struct UsageReport: Codable, Sendable, Equatable {
    /// How the rows are grouped.
    public enum Grouping: String, Codable, Sendable, CaseIterable {
        case day, model
    }

    /// The model calls of one day or one model.
    public struct Row: Codable, Sendable, Equatable {
        /// The UTC day (`2026-12-05`) or the model's name.
        public var key: String
        public var modelCalls: Int
        public var failedCalls: Int
        public var inputTokens: Int
        public var outputTokens: Int
        public var cachedTokens: Int
        public var reasoningTokens: Int
        /// By the price table (`AUTONOUS_PRICE_TABLE`); nil when a model of the row has no price there.
        public var costUsd: Double?

        public init(
            key: String, modelCalls: Int = 0, failedCalls: Int = 0, inputTokens: Int = 0, outputTokens: Int = 0,
            cachedTokens: Int = 0, reasoningTokens: Int = 0, costUsd: Double? = 0
        ) {
            self.key = key
            self.modelCalls = modelCalls
            self.failedCalls = failedCalls
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.cachedTokens = cachedTokens
            self.reasoningTokens = reasoningTokens
            self.costUsd = costUsd
        }

        /// Input plus output tokens, what the daily budget counts.
        public var tokens: Int { inputTokens + outputTokens }

        /// This row with `other` added; the cost stays known only while both are.
        func adding(_ other: Row) -> Row {
            var sum = self
            sum.modelCalls += other.modelCalls
            sum.failedCalls += other.failedCalls
            sum.inputTokens += other.inputTokens
            sum.outputTokens += other.outputTokens
            sum.cachedTokens += other.cachedTokens
            sum.reasoningTokens += other.reasoningTokens
            sum.costUsd = costUsd.flatMap { cost in other.costUsd.map { cost + $0 } }
            return sum
        }
    }

    /// Today's spend as the daily budget counts it (`spend_ledger`: calls in flight at their worst case).
    public struct Today: Codable, Sendable, Equatable {
        /// The UTC day.
        public var day: String
        public var tokens: Int64
        public var costUsd: Double
        /// Model calls in flight, counted at their worst case.
        public var openReservations: Int
        /// `AUTONOUS_DAILY_TOKEN_BUDGET`; nil for unlimited.
        public var tokenBudget: Int?
        /// `AUTONOUS_DAILY_COST_BUDGET`; nil for none.
        public var costBudgetUsd: Double?

        public init(
            day: String, tokens: Int64, costUsd: Double, openReservations: Int, tokenBudget: Int?,
            costBudgetUsd: Double?
        ) {
            self.day = day
            self.tokens = tokens
            self.costUsd = costUsd
            self.openReservations = openReservations
            self.tokenBudget = tokenBudget
            self.costBudgetUsd = costBudgetUsd
        }
    }

    /// `day` or `model`.
    public var by: String
    public var sinceMs: Int64
    /// Days oldest first, or models with the most tokens first.
    public var rows: [Row]
    /// Every row added up (key `total`).
    public var total: Row
    public var today: Today

    public init(by: Grouping, sinceMs: Int64, rows: [Row], today: Today) {
        self.by = by.rawValue
        self.sinceMs = sinceMs
        self.rows = rows
        self.total = rows.reduce(Row(key: "total")) { $0.adding($1) }
        self.today = today
    }

    /// The report of the model calls made at or after `sinceMs`.
    ///
    /// One pass over `model_calls` from `sinceMs` (index `model_calls_time`), grouped by UTC day and model in
    /// SQL; costs are priced per model by `prices`. Today's spend comes from the spend ledger (index
    /// `spend_ledger_day`).
    public static func make(
        _ db: Database, sinceMs: Int64, by grouping: Grouping, prices: PriceTable?, budget: DailyBudget,
        nowMs: Int64
    ) throws -> UsageReport {
        let groups = try GRDB.Row.fetchAll(
            db,
            sql: """
                SELECT ts_ms / 86400000 AS day_number, model, COUNT(*) AS calls,
                    COALESCE(SUM(status = 'failed'), 0) AS failed,
                    COALESCE(SUM(input_tokens), 0) AS input, COALESCE(SUM(output_tokens), 0) AS output,
                    COALESCE(SUM(cached_tokens), 0) AS cached, COALESCE(SUM(reasoning_tokens), 0) AS reasoning
                FROM model_calls WHERE ts_ms >= ?
                GROUP BY day_number, model
                """,
            arguments: [max(0, sinceMs)])
        var rows: [String: Row] = [:]
        for group in groups {
            let dayNumber: Int64 = group["day_number"]
            let model: String = group["model"]
            let key = grouping == .day ? SpendLedger.day(unixMilliseconds: dayNumber * 86_400_000) : model
            var row = Row(
                key: key, modelCalls: group["calls"], failedCalls: group["failed"], inputTokens: group["input"],
                outputTokens: group["output"], cachedTokens: group["cached"], reasoningTokens: group["reasoning"])
            row.costUsd = prices?[model].map { price in
                let cost = price.cost(
                    inputTokens: row.inputTokens, cachedTokens: row.cachedTokens, outputTokens: row.outputTokens)
                return Double(cost.microdollars) / 1_000_000
            }
            rows[key] = rows[key].map { $0.adding(row) } ?? row
        }
        let ordered =
            grouping == .day
            ? rows.values.sorted { $0.key < $1.key }
            : rows.values.sorted { ($0.tokens, $1.key) > ($1.tokens, $0.key) }
        let day = SpendLedger.day(unixMilliseconds: nowMs)
        let spent = try SpendLedger.totals(db, day: day)
        let today = Today(
            day: day, tokens: spent.tokens, costUsd: Double(spent.cost.microdollars) / 1_000_000,
            openReservations: spent.open, tokenBudget: budget.tokens,
            costBudgetUsd: budget.cost.map { Double($0.microdollars) / 1_000_000 })
        return UsageReport(by: grouping, sinceMs: sinceMs, rows: ordered, today: today)
    }
}

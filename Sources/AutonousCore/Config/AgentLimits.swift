import Foundation

/// The limits of one agent run (one answered message): whichever is reached first stops it.
public struct RunLimits: Sendable, Equatable {
    /// Model calls per run (`AUTONOUS_MAX_TURNS`, default 8).
    public var maxTurns: Int
    /// Wall time per run, from its start (`AUTONOUS_MAX_RUN_TIME`, default 10 minutes).
    public var maxRunTime: Duration
    /// Tokens per run, prompt and completion together (`AUTONOUS_MAX_RUN_TOKENS`, default 200,000).
    public var maxRunTokens: Int
    /// Dollars per run (`AUTONOUS_MAX_RUN_COST`); nil means no cost cap. Needs a price table.
    public var maxRunCost: Dollars?
    /// The completion limit each model call asks for (`max_completion_tokens`, `AUTONOUS_MAX_COMPLETION_TOKENS`,
    /// default 4096): with the prompt, the worst case the budget reserves before the call.
    public var maxCompletionTokens: Int

    public init(
        maxTurns: Int = 8, maxRunTime: Duration = .seconds(600), maxRunTokens: Int = 200_000,
        maxRunCost: Dollars? = nil, maxCompletionTokens: Int = 4096
    ) {
        self.maxTurns = maxTurns
        self.maxRunTime = maxRunTime
        self.maxRunTokens = maxRunTokens
        self.maxRunCost = maxRunCost
        self.maxCompletionTokens = maxCompletionTokens
    }
}

/// What the agent may spend per day, across every conversation (UTC days).
public struct DailyBudget: Sendable, Equatable {
    /// The default token budget: 2,000,000 tokens a day (see the README for why).
    public static let defaultTokens = 2_000_000

    /// Tokens per day (`AUTONOUS_DAILY_TOKEN_BUDGET`); nil means `unlimited`, 0 means no model call at all.
    public var tokens: Int?
    /// Dollars per day (`AUTONOUS_DAILY_COST_BUDGET`); nil means no cost cap. Needs a price table.
    public var cost: Dollars?

    public init(tokens: Int? = DailyBudget.defaultTokens, cost: Dollars? = nil) {
        self.tokens = tokens
        self.cost = cost
    }
}

/// How the agent's control plane stops runs that go wrong: failing model calls and loops that make no progress.
public struct AgentSafeguards: Sendable, Equatable {
    /// Failures of the same class in a row that open the circuit breaker (`AUTONOUS_BREAKER_THRESHOLD`, default 5).
    public var breakerThreshold: Int
    /// How long an open breaker refuses model calls before it lets one probe through (`AUTONOUS_BREAKER_COOLDOWN`,
    /// default 60 s).
    public var breakerCooldown: Duration
    /// Iterations in a row with the same tool calls and the same results that stop a run
    /// (`AUTONOUS_NO_PROGRESS_LIMIT`, default 3).
    public var noProgressLimit: Int

    public init(breakerThreshold: Int = 5, breakerCooldown: Duration = .seconds(60), noProgressLimit: Int = 3) {
        self.breakerThreshold = breakerThreshold
        self.breakerCooldown = breakerCooldown
        self.noProgressLimit = noProgressLimit
    }
}

extension Configuration {
    /// Reads `AUTONOUS_MAX_TURNS`, `AUTONOUS_MAX_RUN_TIME`, `AUTONOUS_MAX_RUN_TOKENS`, `AUTONOUS_MAX_RUN_COST` and
    /// `AUTONOUS_MAX_COMPLETION_TOKENS`.
    static func runLimits(_ env: EnvironmentReader) throws -> RunLimits {
        RunLimits(
            maxTurns: try env.integer("AUTONOUS_MAX_TURNS", default: 8, range: 1 ... 1000),
            maxRunTime: try env.duration(
                "AUTONOUS_MAX_RUN_TIME", default: .seconds(600), range: .seconds(1) ... .seconds(86400)),
            maxRunTokens: try env.integer(
                "AUTONOUS_MAX_RUN_TOKENS", default: 200_000, range: 1000 ... 100_000_000),
            maxRunCost: try dollars(env, "AUTONOUS_MAX_RUN_COST", allowZero: false),
            maxCompletionTokens: try env.integer(
                "AUTONOUS_MAX_COMPLETION_TOKENS", default: 4096, range: 16 ... 1_000_000))
    }

    /// Reads `AUTONOUS_DAILY_TOKEN_BUDGET` (a number of tokens or `unlimited`) and `AUTONOUS_DAILY_COST_BUDGET`.
    static func dailyBudget(_ env: EnvironmentReader) throws -> DailyBudget {
        var budget = DailyBudget(cost: try dollars(env, "AUTONOUS_DAILY_COST_BUDGET", allowZero: true))
        if let text = env.string("AUTONOUS_DAILY_TOKEN_BUDGET") {
            if text.lowercased() == "unlimited" {
                budget.tokens = nil
            } else if let tokens = Int(text), (0 ... 1_000_000_000_000).contains(tokens) {
                budget.tokens = tokens
            } else {
                throw ConfigurationError(
                    variable: "AUTONOUS_DAILY_TOKEN_BUDGET",
                    message: "must be a whole number of tokens from 0 to 1000000000000 (0 allows no model call), "
                        + "or 'unlimited', got '\(text)'")
            }
        }
        return budget
    }

    /// Reads `AUTONOUS_BREAKER_THRESHOLD`, `AUTONOUS_BREAKER_COOLDOWN` and `AUTONOUS_NO_PROGRESS_LIMIT`.
    static func safeguards(_ env: EnvironmentReader) throws -> AgentSafeguards {
        AgentSafeguards(
            breakerThreshold: try env.integer("AUTONOUS_BREAKER_THRESHOLD", default: 5, range: 1 ... 100),
            breakerCooldown: try env.duration(
                "AUTONOUS_BREAKER_COOLDOWN", default: .seconds(60), range: .seconds(1) ... .seconds(3600)),
            noProgressLimit: try env.integer("AUTONOUS_NO_PROGRESS_LIMIT", default: 3, range: 2 ... 100))
    }

    /// Reads `AUTONOUS_PRICE_TABLE`: a file in the configuration directory (a relative name is taken there), the only
    /// configuration the worker's sandbox can read. With a cost cap the table is required and must price `model`.
    static func priceTable(
        _ env: EnvironmentReader, configDirectory: String, model: String, costCap: String?
    ) throws -> PriceTable? {
        guard let name = env.string("AUTONOUS_PRICE_TABLE") else {
            if let costCap {
                throw ConfigurationError(
                    variable: costCap,
                    message: "needs AUTONOUS_PRICE_TABLE, a JSON file of what each model costs per million tokens")
            }
            return nil
        }
        let path = name.hasPrefix("/") ? name : configDirectory + "/" + name
        let normalized = URL(fileURLWithPath: path).standardizedFileURL.path
        guard normalized.hasPrefix(configDirectory + "/") else {
            throw ConfigurationError(
                variable: "AUTONOUS_PRICE_TABLE",
                message: "must be a file in AUTONOUS_CONFIG_DIR (\(configDirectory)), the only configuration the "
                    + "worker can read, got '\(name)'")
        }
        let table = try PriceTable.load(path: normalized)
        if let costCap, table[model] == nil {
            throw ConfigurationError(
                variable: "AUTONOUS_PRICE_TABLE",
                message: "\(normalized) has no price for the model '\(model)' (AUTONOUS_MODEL), and \(costCap) is "
                    + "set: a model without a price is refused rather than counted as free")
        }
        return table
    }

    /// An amount of dollars when the variable is set.
    private static func dollars(_ env: EnvironmentReader, _ name: String, allowZero: Bool) throws -> Dollars? {
        guard let text = env.string(name) else { return nil }
        guard let amount = Dollars(parsing: text), allowZero || amount > .zero else {
            throw ConfigurationError(
                variable: name,
                message: "must be an amount of US dollars \(allowZero ? "" : "above 0 ")with at most 6 decimals, "
                    + "such as 0.50 or 20, got '\(text)'")
        }
        return amount
    }
}

import AutonousCore

/// Why the control plane stopped a run or refused a model call. The raw values are stable: they are recorded
/// (`runs.stop_reason`, event payloads) and read by operators.
enum StopReason: String, Sendable, CaseIterable {
    /// The run made `AUTONOUS_MAX_TURNS` model calls.
    case maxTurns = "max_turns"
    /// The run has taken `AUTONOUS_MAX_RUN_TIME`.
    case maxRunTime = "max_run_time"
    /// The next call's worst case would pass `AUTONOUS_MAX_RUN_TOKENS`.
    case maxRunTokens = "max_run_tokens"
    /// The next call's worst case would pass `AUTONOUS_MAX_RUN_COST`.
    case maxRunCost = "max_run_cost"
    /// The next call's worst case does not fit today's `AUTONOUS_DAILY_TOKEN_BUDGET` (or the budget is 0).
    case dailyBudget = "daily_budget"
    /// The next call's worst case does not fit today's `AUTONOUS_DAILY_COST_BUDGET`.
    case dailyCostBudget = "daily_cost_budget"
    /// The spend ledger could not be read or written, so no call can be counted: refused (fail closed).
    case budgetUnavailable = "budget_unavailable"
    /// A cost cap is set and the model has no price in `AUTONOUS_PRICE_TABLE`.
    case unpricedModel = "unpriced_model"
    /// The circuit breaker is open after repeated model failures of one class.
    case breakerOpen = "breaker_open"
    /// Iterations in a row made the same tool calls with the same results (`AUTONOUS_NO_PROGRESS_LIMIT`).
    case noProgress = "no_progress"
    /// The run was cancelled (shutdown, or the user).
    case cancelled
    /// The model refused the request in a way no retry can fix.
    case modelFatal = "model_fatal"
    /// The model kept failing until the retries ran out.
    case modelUnavailable = "model_unavailable"
    /// The prompt did not fit the model's context window, even compressed harder.
    case contextTooLong = "context_too_long"

    /// The stop reason of a run whose model call failed with `errorClass` after its retries.
    init(failure errorClass: ModelErrorClass) {
        switch errorClass {
        case .fatal: self = .modelFatal
        case .contextLengthExceeded: self = .contextTooLong
        default: self = .modelUnavailable
        }
    }

    /// The one sentence the user reads, with the limits that apply.
    func explanation(_ settings: AgentControl.Settings) -> String {
        let limits = settings.runLimits
        switch self {
        case .maxTurns:
            return "I stopped because this answer has taken \(limits.maxTurns) model calls, the most one message may "
                + "use; send another message to let me go on."
        case .maxRunTime:
            return "I stopped because this answer has run for \(Self.words(limits.maxRunTime)), the longest one "
                + "message may take."
        case .maxRunTokens:
            return "I stopped because going on would pass \(Self.grouped(limits.maxRunTokens)) tokens, the most one "
                + "message may use."
        case .maxRunCost:
            return "I stopped because going on could cost more than \(limits.maxRunCost ?? .zero), the most one "
                + "message may cost."
        case .dailyBudget:
            guard let tokens = settings.dailyBudget.tokens, tokens > 0 else {
                return "I make no model calls because the daily token budget is set to 0."
            }
            return "I stopped because this would pass today's token budget (\(Self.grouped(tokens)) tokens for all "
                + "conversations); it resets at 00:00 UTC."
        case .dailyCostBudget:
            return "I stopped because this could pass today's cost budget (\(settings.dailyBudget.cost ?? .zero) for "
                + "all conversations); it resets at 00:00 UTC."
        case .budgetUnavailable:
            return "I stopped because I could not read today's spending ledger, and I make no model call I cannot "
                + "count."
        case .unpricedModel:
            return "I stopped because the model has no price in the price table while a cost limit is set, and I "
                + "do not count an unpriced model as free."
        case .breakerOpen:
            return "I stopped because the model failed \(settings.safeguards.breakerThreshold) times in a row; I "
                + "pause model calls for \(Self.words(settings.safeguards.breakerCooldown)), please try again then."
        case .noProgress:
            return "I stopped because I repeated the same tool calls with the same results "
                + "\(settings.safeguards.noProgressLimit) times in a row without getting further."
        case .cancelled:
            return "I stopped because this answer was cancelled."
        case .modelFatal:
            return "I stopped because the model refused the request in a way that trying again cannot fix."
        case .modelUnavailable:
            return "I stopped because the model kept failing after \(settings.backoff.attempts) attempts; your "
                + "message is saved, please try again in a little while."
        case .contextTooLong:
            return "I could not answer because this conversation is too long for the model, even after I shortened "
                + "it; send /new to start a new conversation, or send a shorter message."
        }
    }

    /// `2,000,000`.
    static func grouped(_ number: Int) -> String {
        var digits = String(number.magnitude)
        var groups: [Substring] = []
        while digits.count > 3 {
            groups.insert(digits.suffix(3), at: 0)
            digits.removeLast(3)
        }
        groups.insert(Substring(digits), at: 0)
        return (number < 0 ? "-" : "") + groups.joined(separator: ",")
    }

    /// `10 minutes`, `90 seconds`, `1 hour`, `2.5 seconds`.
    static func words(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        func unit(_ count: Int64, _ name: String) -> String { "\(count) \(name)\(count == 1 ? "" : "s")" }
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return unit(milliseconds / 3_600_000, "hour") }
        if milliseconds % 60000 == 0, milliseconds > 0 { return unit(milliseconds / 60000, "minute") }
        if milliseconds % 1000 == 0 { return unit(milliseconds / 1000, "second") }
        return "\(Double(milliseconds) / 1000) seconds"
    }
}

import AutonousCore

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

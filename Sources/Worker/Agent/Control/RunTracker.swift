import AutonousCore

/// What one run has used so far, and the rules of one run: turns, time, tokens, cost, no progress.
struct RunTracker: Sendable {
    let runID: String
    let conversationID: String?
    /// The control clock's time at the start.
    let startedAt: Duration
    /// Model calls that answered.
    private(set) var turns = 0
    /// Tokens counted for calls that ended.
    private(set) var tokens = 0
    private(set) var cost = Dollars.zero
    /// Worst cases of calls in flight.
    private(set) var reservedTokens = 0
    private(set) var reservedCost = Dollars.zero
    /// The first reason the control plane gave to stop; every later call is refused with it.
    var stopReason: StopReason?
    private(set) var progress: NoProgressDetector

    init(runID: String, conversationID: String?, startedAt: Duration, noProgressLimit: Int) {
        self.runID = runID
        self.conversationID = conversationID
        self.startedAt = startedAt
        progress = NoProgressDetector(limit: noProgressLimit)
    }

    /// The first run limit reached at `now`, counting calls in flight at their worst case; nil when none is.
    func limitReached(_ limits: RunLimits, now: Duration) -> StopReason? {
        if let stopReason { return stopReason }
        if turns >= limits.maxTurns { return .maxTurns }
        if now - startedAt >= limits.maxRunTime { return .maxRunTime }
        if tokens + reservedTokens >= limits.maxRunTokens { return .maxRunTokens }
        if let cap = limits.maxRunCost, cost + reservedCost >= cap { return .maxRunCost }
        return nil
    }

    /// Whether a call with this worst case fits what is left of the run; the reason when it does not.
    func refusal(tokens claim: Int, cost claimCost: Dollars?, _ limits: RunLimits, now: Duration) -> StopReason? {
        if let reason = limitReached(limits, now: now) { return reason }
        if tokens + reservedTokens + claim > limits.maxRunTokens { return .maxRunTokens }
        if let cap = limits.maxRunCost, cost + reservedCost + (claimCost ?? .zero) > cap { return .maxRunCost }
        return nil
    }

    mutating func reserve(tokens claim: Int, cost claimCost: Dollars?) {
        reservedTokens += claim
        reservedCost = reservedCost + (claimCost ?? .zero)
    }

    /// Ends a reservation: it counted `counted` tokens and `countedCost`; `answered` when the model answered.
    mutating func close(_ reservation: ModelCallReservation, counted: Int, countedCost: Dollars, answered: Bool) {
        reservedTokens = max(0, reservedTokens - reservation.tokens)
        reservedCost = Dollars(microdollars: max(0, reservedCost.microdollars - (reservation.cost?.microdollars ?? 0)))
        tokens += counted
        cost = cost + countedCost
        if answered { turns += 1 }
    }

    /// Records an iteration's tool steps; true when the run has stalled.
    mutating func recordIteration(_ steps: [ToolStep]) -> Bool {
        progress.record(steps)
    }

    func summary(now: Duration) -> RunSummary {
        RunSummary(turns: turns, tokens: tokens, cost: cost, elapsed: now - startedAt, stopReason: stopReason)
    }
}

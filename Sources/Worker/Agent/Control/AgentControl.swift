import AutonousCore
import GRDB
import Logging

/// The agent's control plane: one actor shared by every conversation lane, deciding whether a model call may be
/// made and when a run must stop.
///
/// It holds the circuit breaker, the spend ledger and the clock, and one `RunTracker` per run in flight. The loop
/// calls, per run: `beginRun`, then per model call `admitModelCall` (make the call only when `.allowed`) and
/// exactly one `settle`, `close` or `cancel` for its reservation, after each iteration with tools
/// `recordIteration`, and `checkLimits` before going on; `endRun` at the end. Reservations are synchronous SQLite
/// writes inside the actor, so each admission (checks, reservation, breaker ticket) happens with nothing in between;
/// `close` leaves the ledger's write to the transaction that records the call.
actor AgentControl {
    /// Everything the control plane reads from the configuration.
    struct Settings: Sendable, Equatable {
        var runLimits: RunLimits
        var dailyBudget: DailyBudget
        var priceTable: PriceTable?
        var safeguards: AgentSafeguards
        var backoff: Backoff

        init(
            runLimits: RunLimits = RunLimits(), dailyBudget: DailyBudget = DailyBudget(), priceTable: PriceTable? = nil,
            safeguards: AgentSafeguards = AgentSafeguards(),
            backoff: Backoff = Backoff(attempts: 5, baseDelay: .milliseconds(500), maxDelay: .seconds(30))
        ) {
            self.runLimits = runLimits
            self.dailyBudget = dailyBudget
            self.priceTable = priceTable
            self.safeguards = safeguards
            self.backoff = backoff
        }

        /// The settings of `configuration` (`AUTONOUS_MAX_*`, `AUTONOUS_DAILY_*`, `AUTONOUS_PRICE_TABLE`,
        /// `AUTONOUS_BREAKER_*`, `AUTONOUS_NO_PROGRESS_LIMIT`, `AUTONOUS_RETRY_*`).
        init(_ configuration: AutonousCore.Configuration) {
            self.init(
                runLimits: configuration.runLimits, dailyBudget: configuration.dailyBudget,
                priceTable: configuration.priceTable, safeguards: configuration.safeguards,
                backoff: Backoff(
                    attempts: configuration.retryAttempts, baseDelay: configuration.retryBaseDelay,
                    maxDelay: configuration.retryMaxDelay))
        }

        /// True when a run or daily cost cap is set: then every model needs a price.
        var costCapped: Bool { runLimits.maxRunCost != nil || dailyBudget.cost != nil }
    }

    let settings: Settings
    let clock: any ControlClock
    private let ledger: SpendLedger
    private let logger: Logger
    private var jitter: any JitterSource
    private var breaker: CircuitBreaker
    private var runs: [String: RunTracker] = [:]

    init(
        settings: Settings, ledger: SpendLedger, clock: any ControlClock = SystemControlClock(),
        jitter: any JitterSource = SystemJitter(), logger: Logger = Logger(label: "autonous.control")
    ) {
        self.settings = settings
        self.ledger = ledger
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
        breaker = CircuitBreaker(
            threshold: settings.safeguards.breakerThreshold, cooldown: settings.safeguards.breakerCooldown)
    }

    /// Closes the reservations a stopped worker left open, at their worst case (the calls may have been billed).
    /// Call once at the worker's start, before the first run.
    ///
    /// - Returns: how many it closed.
    @discardableResult
    func recoverLedger() throws -> Int {
        try ledger.abandonOpen(now: clock.unixMilliseconds)
    }

    /// Starts tracking run `runID`; its run time counts from now.
    func beginRun(runID: String, conversationID: String?) {
        runs[runID] = RunTracker(
            runID: runID, conversationID: conversationID, startedAt: clock.monotonicNow,
            noProgressLimit: settings.safeguards.noProgressLimit)
    }

    /// Decides whether run `runID` may call `model` with a prompt of about `estimatedPromptTokens` and a completion
    /// limit of `maxCompletionTokens`; when allowed, the worst case (their sum) is reserved in today's ledger.
    ///
    /// Checks, in order: the run's limits (turns, time, tokens, cost, an earlier stop), the model's price when a cost
    /// cap is set, the daily token budget of 0, the circuit breaker, and the day's ledger (which refuses when the
    /// ledger cannot be read). A refusal also stops the run: later calls get the same reason.
    func admitModelCall(
        runID: String, model: String, estimatedPromptTokens: Int, maxCompletionTokens: Int
    ) -> Admission {
        admitModelCall(
            runID: runID, model: model, estimatedPromptTokens: estimatedPromptTokens,
            maxCompletionTokens: maxCompletionTokens, alongside: { _ in }
        ).admission
    }

    /// `admitModelCall`, with `alongside` written in the ledger's transaction: the caller's records of the call's
    /// start commit with its reservation (or with the ledger's refusal) in one transaction.
    ///
    /// - Returns: the admission, and what `alongside` returned; nil when the ledger was not reached (a refusal
    ///   before it, or a ledger that cannot be written), and then nothing of `alongside` was written.
    func admitModelCall<Written: Sendable>(
        runID: String, model: String, estimatedPromptTokens: Int, maxCompletionTokens: Int,
        alongside: @Sendable (Database) throws -> Written
    ) -> (admission: Admission, written: Written?) {
        guard var run = runs[runID] else { return (.refused(.cancelled), nil) }
        let now = clock.monotonicNow
        let tokens = max(0, estimatedPromptTokens) + max(0, maxCompletionTokens)
        let price = settings.priceTable?[model]
        let cost = price?.cost(inputTokens: max(0, estimatedPromptTokens), outputTokens: max(0, maxCompletionTokens))
        let admission: Admission
        var written: Written?
        if let reason = admissionRefusal(run, tokens: tokens, cost: cost, hasPrice: price != nil, now: now) {
            admission = .refused(reason)
        } else {
            (admission, written) = reserve(
                run, model: model, tokens: tokens, cost: cost, now: now, alongside: alongside)
        }
        switch admission {
        case .allowed:
            run.reserve(tokens: tokens, cost: cost)
        case .refused(let reason):
            if run.stopReason == nil { run.stopReason = reason }
            logger.notice(
                "model call refused",
                metadata: ["run_id": "\(runID)", "control.stop_reason": "\(reason.rawValue)", "model": "\(model)"])
        }
        runs[runID] = run
        return (admission, written)
    }

    /// Closes `reservation` after the call and writes the ledger at once (see `close`). A ledger write that fails
    /// is logged; the reservation then keeps counting its worst case until the worker's next start.
    func settle(_ reservation: ModelCallReservation, usage: ModelUsage?, errorClass: String?) {
        close(reservation, usage: usage, errorClass: errorClass)
            .writeAlone(to: ledger.database, runID: reservation.runID, logger: logger)
    }

    /// Closes `reservation` after the call: with the `usage` the API reported, or, when it reported none, at the
    /// worst case reserved if the call answered (`errorClass` nil) and at nothing if it failed. `errorClass` (nil
    /// for success) also goes to the circuit breaker, and the run's counts change now. The ledger row changes when
    /// the caller writes the returned close, inside the transaction that records the call (or on its own when
    /// that transaction does not commit); until then the reservation counts its worst case.
    func close(_ reservation: ModelCallReservation, usage: ModelUsage?, errorClass: String?) -> LedgerClose {
        let nowMs = clock.unixMilliseconds
        var counted = 0
        var countedCost = Dollars.zero
        let kind: LedgerClose.Kind
        if let usage {
            let cost = settings.priceTable?[reservation.model].map {
                $0.cost(
                    inputTokens: usage.inputTokens, cachedTokens: usage.cachedTokens, outputTokens: usage.outputTokens)
            }
            counted = usage.totalTokens
            countedCost = cost ?? .zero
            kind = .settled(usage, cost: cost)
        } else if errorClass == nil {
            counted = reservation.tokens
            countedCost = reservation.cost ?? .zero
            kind = .settledAtWorstCase
        } else {
            kind = .released(errorClass: errorClass)
        }
        if let errorClass {
            breaker.recordFailure(reservation.ticket, errorClass: errorClass, now: clock.monotonicNow)
        } else {
            breaker.recordSuccess(reservation.ticket)
        }
        runs[reservation.runID]?.close(
            reservation, counted: counted, countedCost: countedCost, answered: errorClass == nil)
        return LedgerClose(ledgerID: reservation.ledgerID, kind: kind, closedMs: nowMs)
    }

    /// Closes `reservation` of a call that was cancelled before it answered: it counts nothing, and tells the
    /// circuit breaker nothing about the model.
    func cancel(_ reservation: ModelCallReservation) {
        do {
            try ledger.release(id: reservation.ledgerID, errorClass: "cancelled", now: clock.unixMilliseconds)
        } catch {
            logger.error(
                "cannot release a spend ledger reservation; it counts its worst case until the next start",
                metadata: ["run_id": "\(reservation.runID)", "error": "\(error)"])
        }
        breaker.recordAbandoned(reservation.ticket)
        runs[reservation.runID]?.close(reservation, counted: 0, countedCost: .zero, answered: false)
    }

    /// Records one iteration of run `runID`: the tool calls of one model answer with their results. Returns
    /// `.noProgress` when the same calls and results have now come `AUTONOUS_NO_PROGRESS_LIMIT` times in a row
    /// (see `NoProgressDetector`); the caller then records `progress.stalled` and stops.
    func recordIteration(runID: String, steps: [ToolStep]) -> StopReason? {
        guard var run = runs[runID] else { return .cancelled }
        defer { runs[runID] = run }
        guard run.recordIteration(steps) else { return nil }
        if run.stopReason == nil { run.stopReason = .noProgress }
        return .noProgress
    }

    /// The first limit run `runID` has reached (or the reason it was stopped for), or nil when it may go on.
    func checkLimits(runID: String) -> StopReason? {
        guard var run = runs[runID] else { return .cancelled }
        guard let reason = run.limitReached(settings.runLimits, now: clock.monotonicNow) else { return nil }
        if run.stopReason == nil {
            run.stopReason = reason
            runs[runID] = run
        }
        return reason
    }

    /// Stops tracking run `runID` and says what it used; nil when it was not tracked.
    @discardableResult
    func endRun(runID: String) -> RunSummary? {
        runs.removeValue(forKey: runID)?.summary(now: clock.monotonicNow)
    }

    /// What run `runID` has used so far.
    func summary(runID: String) -> RunSummary? {
        runs[runID]?.summary(now: clock.monotonicNow)
    }

    /// The wait before retrying a call whose attempt `attempt` (from 1) failed, or nil when no attempt is left
    /// (see `Backoff`). Sleep on `clock`.
    func retryDelay(afterAttempt attempt: Int, retryAfter: Duration?) -> Duration? {
        settings.backoff.delay(afterAttempt: attempt, retryAfter: retryAfter, jitter: &jitter)
    }

    /// The one sentence the user reads for `reason`.
    nonisolated func explanation(for reason: StopReason) -> String {
        reason.explanation(settings)
    }

    /// The circuit breaker's state now.
    var breakerState: CircuitBreaker.State { breaker.state(at: clock.monotonicNow) }

    /// Today's spend (UTC day), for `autonousctl usage` and status.
    func todaysSpend() throws -> SpendLedger.Totals {
        try ledger.totals(day: SpendLedger.day(unixMilliseconds: clock.unixMilliseconds))
    }

    /// Why a call with this worst case may not be made, before the ledger is asked.
    private func admissionRefusal(
        _ run: RunTracker, tokens: Int, cost: Dollars?, hasPrice: Bool, now: Duration
    ) -> StopReason? {
        if let reason = run.refusal(tokens: tokens, cost: cost, settings.runLimits, now: now) { return reason }
        if settings.costCapped && !hasPrice { return .unpricedModel }
        if settings.dailyBudget.tokens == 0 { return .dailyBudget }
        if !breaker.wouldAdmit(now: now) { return .breakerOpen }
        return nil
    }

    /// Reserves the worst case in today's ledger, with `alongside` in its transaction, and takes the breaker's
    /// ticket.
    private func reserve<Written: Sendable>(
        _ run: RunTracker, model: String, tokens: Int, cost: Dollars?, now: Duration,
        alongside: @Sendable (Database) throws -> Written
    ) -> (Admission, Written?) {
        let nowMs = clock.unixMilliseconds
        let claim = SpendLedger.Claim(
            runID: run.runID, conversationID: run.conversationID, model: model, tokens: tokens, cost: cost)
        let outcome: SpendLedger.Reservation
        let written: Written
        do {
            (outcome, written) = try ledger.reserve(
                claim, day: SpendLedger.day(unixMilliseconds: nowMs), tokenLimit: settings.dailyBudget.tokens,
                costLimit: settings.dailyBudget.cost, now: nowMs, alongside: alongside)
        } catch {
            logger.error(
                "cannot read the spend ledger; refusing the model call",
                metadata: ["run_id": "\(run.runID)", "error": "\(error)"])
            return (.refused(.budgetUnavailable), nil)
        }
        switch outcome {
        case .refused(.tokens, _): return (.refused(.dailyBudget), written)
        case .refused(.cost, _): return (.refused(.dailyCostBudget), written)
        case .reserved(let id):
            // wouldAdmit was true and nothing ran in between, so the breaker admits.
            let ticket = breaker.admit(now: now) ?? .normal
            return (
                .allowed(
                    ModelCallReservation(
                        ledgerID: id, runID: run.runID, model: model, tokens: tokens, cost: cost, ticket: ticket)),
                written
            )
        }
    }
}

import AutonousCore
import Foundation
import GRDB
import Logging

/// One message to answer, from any commander.
struct AgentRequest: Sendable {
    /// `telegram` or `local`.
    var commander: String
    /// Who sent the message, as the supervisor records who asked for something: `telegram:<user id>` or `local`.
    var requestedBy: String
    var conversationID: String
    var text: String
    /// The inbox row it came from (Telegram), so a retry after a crash stores the user message once.
    var inboxID: Int64?
    var runID: String = UUID().uuidString.lowercased()
    var extra: [String: JSONValue] = [:]
    /// Gets the answer's text as it streams in, for a commander that shows it growing.
    var onStream: @Sendable (AnswerStreamEvent) async -> Void = { _ in }
}

/// What a commander that shows the answer growing hears from the run.
enum AnswerStreamEvent: Sendable, Equatable {
    /// A model call begins: the text it streams replaces what an earlier call (a turn that called tools, or an
    /// attempt that failed) streamed.
    case callStarted
    /// The next piece of the current call's text.
    case text(String)
}

/// How a run ended.
struct AgentOutcome: Sendable {
    var reply: String
    var succeeded: Bool
    var error: String?
    var runID: String
}

/// The agent loop: history + message → model → tools → model … → reply. Every step is recorded as events under the
/// worker's spawn event (agent → turn → model call, tool calls → approvals), and each step's records are written in
/// one transaction: the run's start with the user message; each model call's start (`turn.started`, a pending
/// `context.compressed`) with its spend reservation; each model call's end (the reservation's close, the call,
/// the assistant message) with the first batch of tool call starts it asked for, or with the run's end and the
/// reply's delivery (`persist`); each batch of tool results (end events, `tool` messages) with the next batch's
/// starts. A plain answer is three transactions.
struct Agent: Sendable {
    let database: AppDatabase
    let model: ChatCompletionsClient?
    /// The context subsystem: the system prompt, history, compression and the prompt's order.
    let context: ContextPipeline
    let parentEventID: Int64
    /// The tools offered to the model; nil offers none.
    var tools: ToolRegistry? = nil
    /// Decides per tier whether a prepared call runs, asks an admin, or is refused; nil refuses every call.
    var gate: ToolGate? = nil
    /// The control plane every lane shares: run limits, the daily budget, the breaker, no-progress detection and
    /// the retries' backoff. The last turn the limits allow must answer without tools.
    let control: AgentControl
    let counters: WorkerCounters
    let logger: Logger
    /// Tells the admins about a model error only they can fix, once until a call succeeds again; nil tells nobody.
    var fatalReporter: ModelFatalReporter? = nil

    /// Stores the reply's delivery (the Telegram outbox, say) inside the transaction that records the answer.
    typealias Persist = @Sendable (Database, String) throws -> Void

    func run(_ request: AgentRequest, persist: Persist = { _, _ in }) async throws -> AgentOutcome {
        let stopwatch = RunStopwatch()
        var logger = self.logger
        logger[metadataKey: "run_id"] = "\(request.runID)"
        logger[metadataKey: "conversation_id"] = "\(request.conversationID)"
        let system = context.systemPrompt.load()
        if let problem = system.problem {
            logger.error("AUTONOUS.md is not used", metadata: ["context.system_prompt.problem": "\(problem)"])
        }
        let gathered = try context.provider.gather(
            conversationID: request.conversationID, excludingInbox: request.inboxID)
        let run = try await start(request, systemPrompt: system, stopwatch: stopwatch)

        guard let model else {
            let reply = ModelSetupHint.sentence
            try await database.pool.write { db in
                try persist(db, reply)
                try RunLog.finish(db, runID: request.runID, status: .failed, stopReason: "model_not_configured")
                try EventLog.append(
                    db, .agentCompleted, run.context, payload: ["outcome": .string("model_not_configured")])
            }
            logger.notice("no model configured; answered with the setup hint")
            return AgentOutcome(reply: reply, succeeded: false, error: "model not configured", runID: request.runID)
        }

        await control.beginRun(runID: request.runID, conversationID: request.conversationID)
        do {
            // A compression's event is written with the first call's reservation.
            let conversation = context.conversation(
                system: system.text, gathered: gathered, user: request.text, tools: tools?.offered ?? [])
            let outcome = try await turns(model, conversation, run: run, persist: persist, logger: logger)
            await control.endRun(runID: request.runID)
            return outcome
        } catch {
            await control.endRun(runID: request.runID)
            throw error
        }
    }

    /// The turns of a run: model call, tools, model call … until an answer, a failure or a stop.
    private func turns(
        _ model: ChatCompletionsClient, _ start: AgentConversation, run: RunHandle, persist: Persist, logger: Logger
    ) async throws -> AgentOutcome {
        var unrecorded: LedgerClose?
        do {
            return try await turns(
                model, start, run: run, persist: persist, logger: logger, unrecorded: &unrecorded)
        } catch {
            // A model call whose record did not commit (the run was cancelled, or the write failed) still closes
            // its reservation, or it would count its worst case against today's budget until the next start. A
            // close that was written already changes nothing.
            unrecorded?.writeAlone(to: database, runID: run.request.runID, logger: logger)
            throw error
        }
    }

    /// `turns`, keeping in `unrecorded` the reservation close of the model call whose record has not committed.
    private func turns(
        _ model: ChatCompletionsClient, _ start: AgentConversation, run: RunHandle, persist: Persist, logger: Logger,
        unrecorded: inout LedgerClose?
    ) async throws -> AgentOutcome {
        let request = run.request
        var conversation = start
        let maxTurns = control.settings.runLimits.maxTurns
        for turn in 1 ... maxTurns {
            try Task.checkCancellation()
            if let reason = await control.checkLimits(runID: request.runID) {
                return try await stopped(run, reason: reason, turn: turn, persist: persist, logger: logger)
            }
            // The last turn offers no tools, so the model has to answer with what it has.
            let step = try await callModel(
                model, conversation: conversation, turn: turn, offerTools: turn < maxTurns, run: run,
                logger: logger)
            unrecorded = step.ledgerClose
            // A harder compression after a context-length error replaces the prompt for the turns that follow.
            conversation = step.conversation
            switch step.result {
            case .answered(let completion) where !completion.toolCalls.isEmpty && turn < maxTurns:
                let assistant = ConversationMessage(
                    role: .assistant, content: completion.content.isEmpty ? nil : completion.content,
                    toolCalls: completion.toolCalls.map {
                        StoredToolCall(id: $0.id, name: $0.name, arguments: $0.arguments)
                    })
                conversation.append(assistant)
                // The turn's record commits with the first batch's tool call starts.
                let results = try await runTools(
                    completion.toolCalls,
                    origin: ToolCallOrigin(runID: request.runID, requestedBy: request.requestedBy),
                    run: run, context: step.context, logger: logger,
                    opening: { db in try step.record(db, assistant: assistant) })
                unrecorded = nil
                for result in results { conversation.append(result.message) }
                let steps = zip(completion.toolCalls, results).map { call, result in
                    ToolStep(name: call.name, arguments: call.arguments, result: result.outcome)
                }
                if let reason = await control.recordIteration(runID: request.runID, steps: steps) {
                    let stalled: [String: JSONValue] = [
                        "turn": .int(Int64(turn)), "tool_calls": .int(Int64(steps.count)),
                        "limit": .int(Int64(control.settings.safeguards.noProgressLimit)),
                    ]
                    return try await stopped(run, reason: reason, turn: turn, persist: persist, logger: logger) { db in
                        try EventLog.append(db, .progressStalled, run.context, payload: stalled)
                    }
                }
            case .answered(let completion):
                var reply = completion.content.trimmingCharacters(in: .whitespacesAndNewlines)
                let stopReason = completion.toolCalls.isEmpty ? "answered" : StopReason.maxTurns.rawValue
                if reply.isEmpty {
                    reply =
                        completion.toolCalls.isEmpty
                        ? "(The model returned an empty answer.)"
                        : control.explanation(for: .maxTurns)
                }
                let finalReply = reply
                let overhead = run.stopwatch.overheadMicroseconds()
                try await database.pool.write { db in
                    try step.record(
                        db, assistant: ConversationMessage(role: .assistant, content: finalReply),
                        extra: ["reply_chars": .int(Int64(finalReply.count))])
                    try persist(db, finalReply)
                    try RunLog.finish(db, runID: request.runID, status: .answered, stopReason: stopReason)
                    try EventLog.append(
                        db, .agentCompleted, run.context,
                        payload: [
                            "outcome": .string("answered"), "turns": .int(Int64(turn)),
                            "stop_reason": .string(stopReason),
                            "overhead_us": .int(overhead), "overhead_per_turn_us": .int(overhead / Int64(turn)),
                        ])
                }
                counters.messageAnswered()
                logger.info(
                    "answered",
                    metadata: [
                        "model.latency_ms": "\(step.latencyMs)", "model.retries": "\(step.retries)",
                        "agent.turns": "\(turn)",
                    ])
                return AgentOutcome(reply: reply, succeeded: true, error: nil, runID: request.runID)
            case .refused(let reason):
                return try await stopped(run, reason: reason, turn: turn, persist: persist, logger: logger) { db in
                    try step.record(db, assistant: nil)
                }
            case .failed(let error):
                // Cancelled (the worker is stopping, or /cancel): no apology is stored here.
                try Task.checkCancellation()
                let description = Redactor.shared.redact(error.description)
                let stopReason = StopReason(failure: error.errorClass)
                let apology =
                    stopReason == .contextTooLong
                    ? control.explanation(for: .contextTooLong)
                    : "Sorry, I could not answer that: \(error.shortReason). Your message is saved; "
                        + "please try again in a little while."
                try await database.pool.write { db in
                    try step.record(db, assistant: nil)
                    try persist(db, apology)
                    try RunLog.finish(
                        db, runID: request.runID, status: .failed, stopReason: stopReason.rawValue,
                        error: description)
                    try EventLog.append(
                        db, .agentFailed, run.context,
                        payload: [
                            "error": .string(description), "error_class": .string(error.errorClass.rawValue),
                            "stop_reason": .string(stopReason.rawValue),
                        ])
                }
                counters.modelFailed()
                counters.setLastError(description)
                logger.error("model call failed", metadata: ["error": "\(description)"])
                return AgentOutcome(reply: apology, succeeded: false, error: description, runID: request.runID)
            }
        }
        // The last turn offers no tools, so it answers, fails or is refused above; a model that calls tools anyway
        // ends the loop here.
        return try await stopped(run, reason: .maxTurns, turn: maxTurns, persist: persist, logger: logger)
    }

    /// Ends a run the control plane stopped, in one transaction: what led to the stop (`alongside`: the refused
    /// turn's record, say), the sentence saying why as the reply, the run's status and stop reason, and
    /// `agent.stopped`.
    private func stopped(
        _ run: RunHandle, reason: StopReason, turn: Int, persist: Persist, logger: Logger,
        alongside: @escaping @Sendable (Database) throws -> Void = { _ in }
    ) async throws -> AgentOutcome {
        let sentence = control.explanation(for: reason)
        let request = run.request
        try await database.pool.write { db in
            try alongside(db)
            try persist(db, sentence)
            try RunLog.finish(db, runID: request.runID, status: .stopped, stopReason: reason.rawValue)
            try EventLog.append(
                db, .agentStopped, run.context,
                payload: [
                    "stop_reason": .string(reason.rawValue), "by": .string("autonous"), "turns": .int(Int64(turn)),
                    "reply": .string(sentence),
                ])
        }
        logger.notice("run stopped by the control plane", metadata: ["stop_reason": "\(reason.rawValue)"])
        return AgentOutcome(reply: sentence, succeeded: false, error: sentence, runID: request.runID)
    }

    /// Ends a run that was stopped from outside (`ActiveRuns.stop`: the user's /cancel) after its task ended, in
    /// one transaction: the reply saying why, the run's status and stop reason, and `agent.stopped` under the run's
    /// start event. Called from the commander's own task, which is not cancelled.
    func recordStop(_ request: AgentRequest, _ stop: StopRequest, persist: Persist = { _, _ in }) async throws
        -> AgentOutcome
    {
        let sentence = stop.sentence
        try await database.pool.write { db in
            let started = try RunLog.fetch(db, id: request.runID)
            let context = EventContext(
                parentID: started?.eventID ?? parentEventID, runID: request.runID,
                conversationID: request.conversationID)
            try persist(db, sentence)
            try RunLog.finish(db, runID: request.runID, status: .cancelled, stopReason: stop.reason.rawValue)
            try EventLog.append(
                db, .agentStopped, context,
                payload: [
                    "stop_reason": .string(stop.reason.rawValue), "by": .string(stop.by), "reply": .string(sentence),
                ])
        }
        logger.notice(
            "run stopped",
            metadata: ["run_id": "\(request.runID)", "stop_reason": "\(stop.reason.rawValue)", "by": "\(stop.by)"])
        return AgentOutcome(reply: sentence, succeeded: true, error: nil, runID: request.runID)
    }

    /// The run's identity in the event log: its `agent.started` event, the parent of everything the run does.
    struct RunHandle: Sendable {
        let request: AgentRequest
        let context: EventContext
        /// The agent's own time in the run, apart from the model's and the tools'.
        let stopwatch: RunStopwatch
    }

    /// The first step, one transaction: `agent.started`, the `runs` row, and the user message (stored once however
    /// often its inbox row is retried; what an earlier, unfinished attempt left is discarded).
    private func start(_ request: AgentRequest, systemPrompt: SystemPrompt, stopwatch: RunStopwatch) async throws
        -> RunHandle
    {
        let base = EventContext(parentID: parentEventID, runID: request.runID, conversationID: request.conversationID)
        var payload = request.extra
        payload["commander"] = .string(request.commander)
        payload["system_prompt"] = .string(systemPrompt.source)
        payload["context_profile"] = .string(context.profile)
        if let problem = systemPrompt.problem { payload["system_prompt_error"] = .string(problem) }
        if let inboxID = request.inboxID { payload["inbox_id"] = .int(inboxID) }
        if let model {
            payload["provider"] = .string(model.name)
            payload["model"] = .string(model.model)
        }
        let startPayload = payload
        let eventID = try await database.pool.write { db in
            let eventID = try EventLog.append(db, .agentStarted, base, payload: startPayload)
            var run = RunRecord(
                id: request.runID, conversationID: request.conversationID, inboxID: request.inboxID,
                commander: request.commander, requestedBy: request.requestedBy,
                startedMs: AppDatabase.nowMilliseconds())
            run.eventID = eventID
            run.provider = model?.name
            run.model = model?.model
            try RunLog.start(db, run)
            if let inboxID = request.inboxID {
                try ConversationStore.discardEarlierAttempts(db, inboxID: inboxID, keepingRun: request.runID)
            }
            try ConversationStore.append(
                db, conversationID: request.conversationID, ConversationMessage(role: .user, content: request.text),
                inboxID: request.inboxID, runID: request.runID)
            return eventID
        }
        return RunHandle(request: request, context: base.child(of: eventID), stopwatch: stopwatch)
    }

    /// A rough token count (four characters a token) for the per-component accounting.
    static func estimateTokens(_ text: String) -> Int {
        (text.utf8.count + 3) / 4
    }
}

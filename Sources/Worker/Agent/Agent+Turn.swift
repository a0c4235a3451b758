import AutonousCore
import Foundation
import GRDB
import Logging

extension Agent {
    /// How one turn's model call ended, after its retries.
    enum TurnResult: Sendable {
        case answered(ChatCompletion)
        case failed(ModelError)
        /// The control plane refused the call before it was made (a limit, the budget, the breaker).
        case refused(StopReason)
    }

    /// One model call, retried under the control plane, and what to write about it once the caller knows what
    /// follows.
    struct TurnStep: Sendable {
        let turn: Int
        /// The run's context: the parent of the turn's start event.
        let runContext: EventContext
        /// The `turn.started` event, written with the call's first reservation; nil when the control plane refused
        /// the call before the ledger, and `record` writes it.
        let turnEventID: Int64?
        /// The `turn.started` payload, for `record` to write when the admission did not.
        let startPayload: [String: JSONValue]
        let result: TurnResult
        let record: ModelCallRecord
        /// The spend ledger's close of the last attempt's reservation, written by `record`.
        let ledgerClose: LedgerClose?
        let latencyMs: Int64
        let retries: Int
        /// The run's inbox row, for the messages it writes.
        let inboxID: Int64?
        /// The prompt the last attempt sent: the caller's, or its harder compression after a context-length error.
        /// Its `compression` is pending only when no admission reached the ledger.
        let conversation: AgentConversation
        /// What the call cost by the price table (`AUTONOUS_PRICE_TABLE`), when the model has a price there.
        var costUSD: Double? = nil

        /// The `turn.started` event's context: the parent of the call's retries and of the turn's tool calls.
        var context: EventContext { turnEventID.map { runContext.child(of: $0) } ?? runContext }

        /// Writes the reservation's close, the model call (none when the call was refused before it was made), the
        /// assistant message it produced (if any), the turn's end event and the run's counters, inside the
        /// caller's transaction.
        func record(_ db: Database, assistant: ConversationMessage?, extra: [String: JSONValue] = [:]) throws {
            try ledgerClose?.write(db)
            if case .refused(let reason) = result {
                var context = self.context
                if turnEventID == nil {
                    try conversation.writeCompression(db, context: runContext)
                    let started = try EventLog.append(db, .turnStarted, runContext, payload: startPayload)
                    context = runContext.child(of: started)
                }
                try EventLog.append(
                    db, .modelCallRefused, context, payload: ["stop_reason": .string(reason.rawValue)])
                return
            }
            var stored = record
            stored.eventID = turnEventID
            try ModelCallLog.insert(db, stored)
            let usage = TokenUsage(
                input: record.inputTokens ?? 0, output: record.outputTokens ?? 0, cached: record.cachedTokens ?? 0,
                reasoning: record.reasoningTokens ?? 0)
            if let runID = record.runID {
                try RunLog.countModelCall(db, runID: runID, usage: usage, costUSD: costUSD, newTurn: true)
            }
            if let assistant, let conversationID = record.conversationID {
                try ConversationStore.append(
                    db, conversationID: conversationID, assistant, inboxID: inboxID, runID: record.runID)
            }
            var payload: [String: JSONValue] = [
                "latency_ms": .int(latencyMs), "retries": .int(Int64(retries)),
                "provider": .string(record.provider),
                "input_tokens": record.inputTokens.map { .int(Int64($0)) } ?? .null,
                "output_tokens": record.outputTokens.map { .int(Int64($0)) } ?? .null,
                "finish_reason": record.finishReason.map { .string($0) } ?? .null,
                "time_to_first_token_ms": record.timeToFirstTokenMs.map { .int($0) } ?? .null,
            ]
            switch result {
            case .answered(let completion):
                payload["tool_calls"] = .int(Int64(completion.toolCalls.count))
                payload.merge(extra) { _, new in new }
                try EventLog.append(db, .turnCompleted, context, payload: payload)
            case .failed(let error):
                payload["error"] = .string(record.error ?? "")
                payload["error_class"] = .string(error.errorClass.rawValue)
                payload["retryable"] = .bool(error.isRetryable)
                try EventLog.append(db, .turnFailed, context, payload: payload)
            case .refused:
                break
            }
        }
    }

    /// Calls the model for `turn`: attempts until one answers, the error is not worth retrying, or the attempts run
    /// out. Each attempt is admitted by the control plane first (limits, daily budget, breaker), which reserves its
    /// worst case; the first admission writes `turn.started` (the parent of the retries) and a pending
    /// `context.compressed` in the ledger's transaction. A failed attempt that is retried commits its reservation's
    /// close with its `model.call.retry` event. A prompt the model says does not fit its context window is rebuilt
    /// once with the harder compression and sent again, which is not a retry (`context.compressed` says so).
    /// The last attempt's close and everything else are written when the caller records the step.
    func callModel(
        _ model: ChatCompletionsClient, conversation start: AgentConversation, turn: Int, offerTools: Bool,
        run: RunHandle, logger: Logger
    ) async throws -> TurnStep {
        var conversation = start
        var messages = conversation.messages
        let offered = offerTools ? conversation.tools : []
        let startPayload: [String: JSONValue] = [
            "turn": .int(Int64(turn)), "messages": .int(Int64(messages.count)), "model": .string(model.model),
            "provider": .string(model.name), "tools": .int(Int64(offered.count)),
        ]
        let runContext = run.context
        var turnEventID: Int64?
        var record = ModelCallRecord(provider: model.name, model: model.model, ok: false, latencyMs: 0)
        record.runID = run.request.runID
        record.conversationID = run.request.conversationID
        record.turn = turn
        var promptEstimate = record.setPrompt(conversation, offered: offered, profile: self.context.profile)

        let started = ContinuousClock.now
        var retries = 0
        var attempt = 1
        var limitedFailures = 0
        var ledgerClose: LedgerClose?
        let result: TurnResult
        while true {
            let known = turnEventID
            let opening = conversation
            let (admission, written) = await control.admitModelCall(
                runID: run.request.runID, model: model.model, estimatedPromptTokens: promptEstimate,
                maxCompletionTokens: control.settings.runLimits.maxCompletionTokens
            ) { db in
                if let known { return known }
                try opening.writeCompression(db, context: runContext)
                return try EventLog.append(db, .turnStarted, runContext, payload: startPayload)
            }
            if let written {
                turnEventID = written
                conversation.compression = nil
            }
            guard case .allowed(let reservation) = admission else {
                if case .refused(let reason) = admission {
                    result = .refused(reason)
                } else {
                    result = .refused(.cancelled)
                }
                break
            }
            guard let turnEventID else {
                preconditionFailure("an allowed model call reached the ledger, which wrote the turn's start")
            }
            let context = runContext.child(of: turnEventID)
            do {
                let onStream = run.request.onStream
                await onStream(.callStarted)
                let completion = try await run.stopwatch.outside { () async throws(ModelError) in
                    try await model.complete(messages, tools: offered) { await onStream(.text($0)) }
                }
                ledgerClose = await control.close(
                    reservation,
                    usage: completion.inputTokens.map {
                        ModelUsage(
                            inputTokens: $0, cachedTokens: completion.cachedTokens ?? 0,
                            outputTokens: completion.outputTokens ?? 0)
                    }, errorClass: nil)
                result = .answered(completion)
                break
            } catch {
                if error.errorClass == .cancelled || Task.isCancelled {
                    await control.cancel(reservation)
                    result = .failed(error)
                    break
                }
                let close = await control.close(reservation, usage: nil, errorClass: error.errorClass.rawValue)
                if error.errorClass == .contextLengthExceeded, conversation.level == .normal {
                    let harder = self.context.harder(conversation)
                    // Sent again only when the harder compression made it smaller: the same prompt cannot fit.
                    if harder.estimatedTokens < conversation.estimatedTokens {
                        do {
                            try await database.pool.write { db in
                                try close.write(db)
                                try harder.writeCompression(db, context: context)
                            }
                        } catch {
                            close.writeAlone(to: database, runID: run.request.runID, logger: logger)
                            throw error
                        }
                        conversation = harder
                        conversation.compression = nil
                        messages = conversation.messages
                        promptEstimate = record.setPrompt(conversation, offered: offered, profile: self.context.profile)
                        logger.notice("the prompt does not fit the model's context window; compressed harder")
                        continue
                    }
                }
                // A failure with a retry limit of its own (a malformed answer: one retry) counts against it,
                // whatever failed in between.
                if error.maxRetries != nil { limitedFailures += 1 }
                let allowed = error.maxRetries.map { limitedFailures <= $0 } ?? true
                guard error.isRetryable, allowed,
                    let delay = await control.retryDelay(afterAttempt: attempt, retryAfter: error.retryAfter)
                else {
                    ledgerClose = close
                    result = .failed(error)
                    break
                }
                logger.warning(
                    "model call failed; retrying",
                    metadata: [
                        "attempt": "\(attempt)", "error": "\(error)", "retry.delay_ms": "\(delay.wholeMilliseconds)",
                    ])
                let retryPayload: [String: JSONValue] = [
                    "attempt": .int(Int64(attempt)), "error": .string(Redactor.shared.redact("\(error)")),
                    "error_class": .string(error.errorClass.rawValue), "delay_ms": .int(delay.wholeMilliseconds),
                ]
                do {
                    try await database.pool.write { db in
                        try close.write(db)
                        try EventLog.append(db, .modelCallRetry, context, payload: retryPayload)
                    }
                } catch {
                    logger.error("cannot record a model call's retry", metadata: ["error": "\(error)"])
                    close.writeAlone(to: database, runID: run.request.runID, logger: logger)
                }
                await run.stopwatch.outside { try? await control.clock.sleep(for: delay) }
                if Task.isCancelled {
                    result = .failed(error)
                    break
                }
                retries += 1
                attempt += 1
            }
        }
        switch result {
        case .answered(let completion):
            record.ok = true
            record.httpStatus = completion.httpStatus
            record.inputTokens = completion.inputTokens
            record.outputTokens = completion.outputTokens
            record.cachedTokens = completion.cachedTokens
            record.reasoningTokens = completion.reasoningTokens
            record.finishReason = completion.finishReason
            record.timeToFirstTokenMs = completion.timeToFirstTokenMs
            record.streamed = completion.streamed
            fatalReporter?.succeeded()
        case .failed(let error):
            record.httpStatus = error.httpStatus
            record.error = Redactor.shared.redact(error.description)
            record.errorClass = error.errorClass.rawValue
            fatalReporter?.failed(
                error, provider: model.name, model: model.model,
                context: turnEventID.map { runContext.child(of: $0) } ?? runContext)
        case .refused:
            break
        }
        let latencyMs = (ContinuousClock.now - started).wholeMilliseconds
        record.latencyMs = latencyMs
        record.retries = retries
        var step = TurnStep(
            turn: turn, runContext: runContext, turnEventID: turnEventID, startPayload: startPayload, result: result,
            record: record, ledgerClose: ledgerClose, latencyMs: latencyMs, retries: retries,
            inboxID: run.request.inboxID, conversation: conversation)
        if let price = control.settings.priceTable?[model.model], let input = record.inputTokens {
            let cost = price.cost(
                inputTokens: input, cachedTokens: record.cachedTokens ?? 0, outputTokens: record.outputTokens ?? 0)
            step.costUSD = Double(cost.microdollars) / 1_000_000
        }
        return step
    }
}

extension ModelCallRecord {
    /// Records the estimated tokens of each prompt component, the context profile and the compression level of
    /// `conversation` sent with `offered` tools, and returns the whole prompt's estimate.
    mutating func setPrompt(_ conversation: AgentConversation, offered: [JSONValue], profile: String) -> Int {
        let estimate = conversation.estimate
        tokensSystem = estimate.system
        tokensHistory = estimate.history
        tokensContext = estimate.context
        tokensToolOutput = estimate.toolOutput
        tokensTools = offered.isEmpty ? 0 : conversation.toolsTokens
        contextProfile = profile
        contextLevel = conversation.level.rawValue
        return conversation.estimatedTokens + (tokensTools ?? 0)
    }
}

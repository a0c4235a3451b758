import AutonousCore
import Foundation
import GRDB
import Logging

extension Agent {
    /// One model call, retried by the policy, and what to write about it once the caller knows what follows.
    struct TurnStep: Sendable {
        let turn: Int
        /// The `turn.started` event's context: the parent of the call's retries and of the turn's tool calls.
        let context: EventContext
        let turnEventID: Int64
        let result: Result<ChatCompletion, ModelError>
        let record: ModelCallRecord
        let latencyMs: Int64
        let retries: Int

        /// Writes the model call, the assistant message it produced (if any), the turn's end event and the run's
        /// counters, inside the caller's transaction.
        func record(_ db: Database, assistant: ConversationMessage?, extra: [String: JSONValue] = [:]) throws {
            var stored = record
            stored.eventID = turnEventID
            try ModelCallLog.insert(db, stored)
            let usage = TokenUsage(
                input: record.inputTokens ?? 0, output: record.outputTokens ?? 0, cached: record.cachedTokens ?? 0,
                reasoning: record.reasoningTokens ?? 0)
            if let runID = record.runID {
                try RunLog.countModelCall(db, runID: runID, usage: usage, costUSD: nil, newTurn: true)
            }
            if let assistant, let conversationID = record.conversationID {
                try ConversationStore.append(
                    db, conversationID: conversationID, assistant, inboxID: inboxID, runID: record.runID)
            }
            var payload: [String: JSONValue] = [
                "latency_ms": .int(latencyMs), "retries": .int(Int64(retries)),
                "input_tokens": record.inputTokens.map { .int(Int64($0)) } ?? .null,
                "output_tokens": record.outputTokens.map { .int(Int64($0)) } ?? .null,
                "finish_reason": record.finishReason.map { .string($0) } ?? .null,
            ]
            switch result {
            case .success(let completion):
                payload["tool_calls"] = .int(Int64(completion.toolCalls.count))
                payload.merge(extra) { _, new in new }
                try EventLog.append(db, "turn.completed", context, payload: payload)
            case .failure(let error):
                payload["error"] = .string(record.error ?? "")
                payload["retryable"] = .bool(error.isRetryable)
                try EventLog.append(db, "turn.failed", context, payload: payload)
            }
        }

        /// The inbox row of the run, for the messages it writes.
        var inboxID: Int64? = nil
    }

    /// Calls the model for `turn`: a `turn.started` event first (the parent of the retries), then the call with the
    /// policy's retries, each retry an event. Nothing else is written until the caller records the step.
    func callModel(
        _ model: ChatCompletionsClient, conversation: AgentConversation, turn: Int, offerTools: Bool,
        run: RunHandle, logger: Logger
    ) async throws -> TurnStep {
        let messages = conversation.messages
        let offered = offerTools ? conversation.tools : []
        let turnEventID = try EventLog(database: database).append(
            "turn.started", run.context,
            payload: [
                "turn": .int(Int64(turn)), "messages": .int(Int64(messages.count)), "model": .string(model.model),
                "tools": .int(Int64(offered.count)),
            ])
        let context = run.context.child(of: turnEventID)
        let estimate = conversation.estimate
        var record = ModelCallRecord(provider: "openai", model: model.model, ok: false, latencyMs: 0)
        record.runID = run.request.runID
        record.conversationID = run.request.conversationID
        record.turn = turn
        record.tokensSystem = estimate.system
        record.tokensHistory = estimate.history
        record.tokensContext = estimate.context
        record.tokensToolOutput = estimate.toolOutput
        record.contextProfile = "default"

        let started = ContinuousClock.now
        let database = self.database
        let retryPolicy = self.retryPolicy
        let result: Result<ChatCompletion, ModelError>
        var retries = 0
        var retried = 0
        do {
            let (completion, count) = try await withRetries(
                retryPolicy,
                operation: { () async throws(ModelError) in try await model.complete(messages, tools: offered) },
                onRetry: { attempt, error, delay in
                    retried += 1
                    logger.warning(
                        "model call failed; retrying",
                        metadata: [
                            "attempt": "\(attempt)", "error": "\(error)",
                            "retry.delay_ms": "\(delay.wholeMilliseconds)",
                        ])
                    _ = try? EventLog(database: database).append(
                        "model.call.retry", context,
                        payload: [
                            "attempt": .int(Int64(attempt)), "error": .string(Redactor.shared.redact("\(error)")),
                            "delay_ms": .int(delay.wholeMilliseconds),
                        ])
                })
            retries = count
            result = .success(completion)
            record.ok = true
            record.httpStatus = completion.httpStatus
            record.inputTokens = completion.inputTokens
            record.outputTokens = completion.outputTokens
            record.cachedTokens = completion.cachedTokens
            record.finishReason = completion.finishReason
        } catch {
            result = .failure(error)
            // Only retryable failures were retried, and only those count.
            retries = retried
            record.httpStatus = error.httpStatus
            record.error = Redactor.shared.redact(error.description)
        }
        let latencyMs = (ContinuousClock.now - started).wholeMilliseconds
        record.latencyMs = latencyMs
        record.retries = retries
        var step = TurnStep(
            turn: turn, context: context, turnEventID: turnEventID, result: result, record: record,
            latencyMs: latencyMs, retries: retries)
        step.inboxID = run.request.inboxID
        return step
    }
}

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
}

/// How a run ended.
struct AgentOutcome: Sendable {
    var reply: String
    var succeeded: Bool
    var error: String?
    var runID: String
}

/// The agent loop: history + message → model → reply, every step recorded as events under the worker's spawn
/// event (agent → turn → model call), the reply stored with the state change it causes in one transaction.
struct Agent: Sendable {
    let database: AppDatabase
    let model: ChatCompletionsClient?
    let retryPolicy: RetryPolicy
    let systemPrompt: String
    let historyLimit: Int
    let parentEventID: Int64
    /// The tools offered to the model; nil offers none.
    var tools: ToolRegistry? = nil
    /// Decides per tier whether a prepared call runs, asks an admin, or is refused; nil refuses every call.
    var gate: ToolGate? = nil
    /// Model calls per message at most; the last one must answer without tools.
    var maxTurns = 8
    let counters: WorkerCounters
    let logger: Logger

    /// Stores the reply's delivery (the Telegram outbox, say) inside the transaction that records the answer.
    typealias Persist = @Sendable (Database, String) throws -> Void

    func run(_ request: AgentRequest, persist: Persist = { _, _ in }) async throws -> AgentOutcome {
        let context = EventContext(
            parentID: parentEventID, runID: request.runID, conversationID: request.conversationID)
        var startPayload = request.extra
        startPayload["commander"] = .string(request.commander)
        if let inboxID = request.inboxID { startPayload["inbox_id"] = .int(inboxID) }
        let agentEventID = try EventLog(database: database).append("agent.started", context, payload: startPayload)
        let agentContext = context.child(of: agentEventID)
        var logger = self.logger
        logger[metadataKey: "run_id"] = "\(request.runID)"
        logger[metadataKey: "conversation_id"] = "\(request.conversationID)"

        guard let model else {
            let reply = ModelSetupHint.sentence
            try await database.pool.write { db in
                try ConversationStore.append(
                    db, conversationID: request.conversationID, role: .user, content: request.text,
                    inboxID: request.inboxID, runID: request.runID)
                try persist(db, reply)
                try EventLog.append(
                    db, "agent.completed", agentContext, payload: ["outcome": .string("model_not_configured")])
            }
            logger.notice("no model configured; answered with the setup hint")
            return AgentOutcome(reply: reply, succeeded: false, error: "model not configured", runID: request.runID)
        }

        let history = try ConversationStore(database: database).recent(
            conversationID: request.conversationID, limit: historyLimit, excludingInbox: request.inboxID)
        var messages = [ChatMessage(role: "system", content: systemPrompt)]
        messages += history.map { ChatMessage(role: $0.role.rawValue, content: $0.content) }
        messages.append(ChatMessage(role: "user", content: request.text))
        let toolDefinitions = tools?.definitions ?? []
        var toolOutputTokens = 0

        for turn in 1 ... maxTurns {
            let turnEventID = try EventLog(database: database).append(
                "turn.started", agentContext,
                payload: [
                    "turn": .int(Int64(turn)), "messages": .int(Int64(messages.count)), "model": .string(model.model),
                    "tools": .int(Int64(toolDefinitions.count)),
                ])
            let turnContext = agentContext.child(of: turnEventID)
            var record = ModelCallRecord(provider: "openai", model: model.model, ok: false, latencyMs: 0)
            record.runID = request.runID
            record.conversationID = request.conversationID
            record.tokensSystem = Self.estimateTokens(systemPrompt)
            record.tokensHistory = history.reduce(0) { $0 + Self.estimateTokens($1.content) }
            record.tokensContext = Self.estimateTokens(request.text)
            record.tokensToolOutput = toolOutputTokens
            record.contextProfile = "default"

            let started = ContinuousClock.now
            let database = self.database
            let attempt: Result<(value: ChatCompletion, retries: Int), ModelError>
            let sent = messages
            // The last turn offers no tools, so the model has to answer with what it has.
            let offered = turn < maxTurns ? toolDefinitions : []
            do {
                attempt = .success(
                    try await withRetries(
                        retryPolicy,
                        operation: { () async throws(ModelError) in
                            try await model.complete(sent, tools: offered)
                        },
                        onRetry: { attempt, error, delay in
                            logger.warning(
                                "model call failed; retrying",
                                metadata: [
                                    "attempt": "\(attempt)", "error": "\(error)",
                                    "retry.delay_ms": "\(delay.wholeMilliseconds)",
                                ])
                            _ = try? EventLog(database: database).append(
                                "model.call.retry", turnContext,
                                payload: [
                                    "attempt": .int(Int64(attempt)),
                                    "error": .string(Redactor.shared.redact("\(error)")),
                                    "delay_ms": .int(delay.wholeMilliseconds),
                                ])
                        }))
            } catch {
                attempt = .failure(error)
            }
            switch attempt {
            case .success(let (completion, retries)):
                record.ok = true
                record.latencyMs = (ContinuousClock.now - started).wholeMilliseconds
                record.retries = retries
                record.httpStatus = completion.httpStatus
                record.inputTokens = completion.inputTokens
                record.outputTokens = completion.outputTokens
                record.cachedTokens = completion.cachedTokens
                record.finishReason = completion.finishReason
                let turnPayload: [String: JSONValue] = [
                    "latency_ms": .int(record.latencyMs), "retries": .int(Int64(retries)),
                    "input_tokens": record.inputTokens.map { .int(Int64($0)) } ?? .null,
                    "output_tokens": record.outputTokens.map { .int(Int64($0)) } ?? .null,
                    "finish_reason": record.finishReason.map { .string($0) } ?? .null,
                    "tool_calls": .int(Int64(completion.toolCalls.count)),
                ]
                if !completion.toolCalls.isEmpty && turn < maxTurns {
                    let stored = record
                    try await database.pool.write { db in
                        var row = stored
                        row.eventID = turnEventID
                        try ModelCallLog.insert(db, row)
                        try EventLog.append(db, "turn.completed", turnContext, payload: turnPayload)
                    }
                    messages.append(
                        ChatMessage(
                            role: "assistant", content: completion.content.isEmpty ? nil : completion.content,
                            toolCalls: completion.toolCalls))
                    for call in completion.toolCalls {
                        let output = try await runTool(
                            call, origin: ToolCallOrigin(runID: request.runID, requestedBy: request.requestedBy),
                            context: turnContext, logger: logger)
                        toolOutputTokens += Self.estimateTokens(output)
                        messages.append(ChatMessage(role: "tool", content: output, toolCallID: call.id))
                    }
                    continue
                }
                var reply = completion.content.trimmingCharacters(in: .whitespacesAndNewlines)
                if reply.isEmpty {
                    reply =
                        completion.toolCalls.isEmpty
                        ? "(The model returned an empty answer.)"
                        : "(I stopped after \(maxTurns) steps without a final answer.)"
                }
                let finalRecord = record
                let finalReply = reply
                try await database.pool.write { db in
                    try ConversationStore.append(
                        db, conversationID: request.conversationID, role: .user, content: request.text,
                        inboxID: request.inboxID, runID: request.runID)
                    try ConversationStore.append(
                        db, conversationID: request.conversationID, role: .assistant, content: finalReply,
                        inboxID: request.inboxID, runID: request.runID)
                    var stored = finalRecord
                    stored.eventID = turnEventID
                    try ModelCallLog.insert(db, stored)
                    var payload = turnPayload
                    payload["reply_chars"] = .int(Int64(finalReply.count))
                    try EventLog.append(db, "turn.completed", turnContext, payload: payload)
                    try persist(db, finalReply)
                    try EventLog.append(
                        db, "agent.completed", agentContext,
                        payload: ["outcome": .string("answered"), "turns": .int(Int64(turn))])
                }
                counters.messageAnswered()
                logger.info(
                    "answered",
                    metadata: [
                        "model.latency_ms": "\(finalRecord.latencyMs)", "model.retries": "\(retries)",
                        "agent.turns": "\(turn)",
                    ])
                return AgentOutcome(reply: reply, succeeded: true, error: nil, runID: request.runID)
            case .failure(let error):
                // Cancelled (the worker is stopping): no apology is stored, so the next worker answers the message.
                try Task.checkCancellation()
                let description = Redactor.shared.redact(error.description)
                record.latencyMs = (ContinuousClock.now - started).wholeMilliseconds
                record.retries = max(0, retryPolicy.attempts - 1)
                record.httpStatus = error.httpStatus
                record.error = description
                let apology =
                    "Sorry, I could not answer that: \(error.shortReason). Your message is saved; "
                    + "please try again in a little while."
                let finalRecord = record
                try await database.pool.write { db in
                    try ConversationStore.append(
                        db, conversationID: request.conversationID, role: .user, content: request.text,
                        inboxID: request.inboxID, runID: request.runID)
                    var stored = finalRecord
                    stored.eventID = turnEventID
                    try ModelCallLog.insert(db, stored)
                    try EventLog.append(
                        db, "turn.failed", turnContext,
                        payload: ["error": .string(description), "retryable": .bool(error.isRetryable)])
                    try persist(db, apology)
                    try EventLog.append(
                        db, "agent.failed", agentContext, payload: ["error": .string(description)])
                }
                counters.modelFailed()
                counters.setLastError(description)
                logger.error("model call failed", metadata: ["error": "\(description)"])
                return AgentOutcome(reply: apology, succeeded: false, error: description, runID: request.runID)
            }
        }
        // Unreachable: the last turn always answers or fails above.
        throw AutonousError(.internalError, "the agent loop ended without an answer")
    }

    /// Runs one tool call between `tool_call.started` and `tool_call.completed`/`failed` events under the turn
    /// (an approval's events go under the started event), and returns the envelope as the JSON text the model reads.
    private func runTool(
        _ call: ToolCall, origin: ToolCallOrigin, context: EventContext, logger: Logger
    ) async throws -> String {
        let arguments = Redactor.shared.redact(String(call.arguments.prefix(4000)))
        let events = EventLog(database: database)
        var startPayload: [String: JSONValue] = [
            "tool": .string(call.name), "call_id": .string(call.id), "arguments": .string(arguments),
        ]
        let prepared = tools.map { $0.prepare(call, origin: origin) }
        if case .success(let ready) = prepared { startPayload["tier"] = .string(ready.tier.rawValue) }
        let startedID = try events.append("tool_call.started", context, payload: startPayload)
        var approval: Approval?
        let result: ToolResult
        switch prepared {
        case .none:
            result = .failure("no tools are enabled", tier: .read)
        case .failure(let refusal):
            result = refusal.result
        case .success(let ready):
            if let gate {
                (result, approval) = try await gate.run(ready, context: context.child(of: startedID))
            } else {
                result = .failure("tool calls are not enabled here", tier: ready.tier)
            }
        }
        var summary: [String: JSONValue] = [
            "tool": .string(call.name), "call_id": .string(call.id), "ok": .bool(result.ok),
            "tier": .string(result.tier.rawValue), "duration_ms": .int(result.durationMs),
            "stdout_bytes": .int(Int64(result.stdout.utf8.count)), "stdout_truncated": .bool(result.stdoutTruncated),
            "error": result.ok ? .null : .string(Redactor.shared.redact(String(result.stderr.prefix(1000)))),
        ]
        if let approval {
            summary["approval_id"] = .string(approval.id)
            summary["approval_status"] = .string(approval.status.rawValue)
        }
        try events.append(
            result.ok ? "tool_call.completed" : "tool_call.failed", context.child(of: startedID), payload: summary)
        logger.info(
            "tool call",
            metadata: ["tool.name": "\(call.name)", "tool.ok": "\(result.ok)", "tool.ms": "\(result.durationMs)"])
        guard let data = try? JSONCoding.encoder.encode(result) else { return #"{"ok":false}"# }
        return String(decoding: data, as: UTF8.self)
    }

    /// A rough token count (four characters a token) for the per-component accounting.
    static func estimateTokens(_ text: String) -> Int {
        (text.utf8.count + 3) / 4
    }
}

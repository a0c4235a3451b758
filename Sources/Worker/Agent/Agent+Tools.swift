import AutonousCore
import Foundation
import GRDB
import Logging

extension Agent {
    /// Runs one turn's tool calls and returns them finished (their `tool` messages and what no-progress detection
    /// compares), in the order the model asked.
    ///
    /// Calls run concurrently where that cannot change what they see: consecutive Read-tier calls run together, and
    /// a call of any other tier (which writes, executes or reaches the network) runs alone, after every call before
    /// it and before every call after it. A call that cannot be prepared (unknown tool, bad arguments) gets its
    /// error as its result at once.
    func runTools(
        _ calls: [ToolCall], origin: ToolCallOrigin, run: RunHandle, context: EventContext, logger: Logger
    ) async throws -> [FinishedTool] {
        let prepared = calls.map { call in (call, tools.map { $0.prepare(call, origin: origin) }) }
        var results: [FinishedTool] = []
        for batch in Self.batches(readsOnly: prepared.map { Self.readsOnly($0.1) }) {
            let finished: [FinishedTool]
            if batch.count == 1 {
                let (call, ready) = prepared[batch.lowerBound]
                finished = [try await runTool(call, prepared: ready, context: context, logger: logger)]
            } else {
                finished = try await withThrowingTaskGroup(of: (Int, FinishedTool).self) { group in
                    for position in batch {
                        let (call, ready) = prepared[position]
                        group.addTask {
                            (position, try await runTool(call, prepared: ready, context: context, logger: logger))
                        }
                    }
                    var outputs: [(Int, FinishedTool)] = []
                    for try await output in group { outputs.append(output) }
                    return outputs.sorted { $0.0 < $1.0 }.map(\.1)
                }
            }
            // A batch's tools run at once: the longest is the time the run waited on them.
            run.stopwatch.exclude(finished.map(\.spent).max() ?? .zero)
            // The batch's end events, its `tool` messages in the order the model asked, and the run's count: one
            // transaction, so history never holds half a batch.
            let request = run.request
            try await database.pool.write { db in
                for tool in finished {
                    try EventLog.append(db, tool.endType, tool.endContext, payload: tool.endPayload)
                    try ConversationStore.append(
                        db, conversationID: request.conversationID, tool.message, inboxID: request.inboxID,
                        runID: request.runID)
                }
                try RunLog.countToolCalls(db, runID: request.runID, count: finished.count)
            }
            results += finished
        }
        return results
    }

    /// A tool call that ran: its `tool` message and the end event to write.
    struct FinishedTool: Sendable {
        let message: ConversationMessage
        /// The result as no-progress detection compares it: the envelope without its duration, which differs from
        /// one identical call to the next.
        let outcome: String
        let endType: EventType
        let endContext: EventContext
        let endPayload: [String: JSONValue]
        /// The time the tool took (waiting for its approval included): not the agent's own time.
        let spent: Duration
    }

    /// The calls grouped into what runs together, in order: each run of consecutive read-only calls is one group,
    /// every other call a group of its own.
    static func batches(readsOnly: [Bool]) -> [Range<Int>] {
        var batches: [Range<Int>] = []
        var start = 0
        while start < readsOnly.count {
            var end = start + 1
            if readsOnly[start] {
                while end < readsOnly.count, readsOnly[end] { end += 1 }
            }
            batches.append(start ..< end)
            start = end
        }
        return batches
    }

    /// True for a prepared Read-tier call (and for a refusal, which runs nothing).
    private static func readsOnly(_ prepared: Result<ToolRegistry.PreparedCall, ToolRegistry.Refusal>?) -> Bool {
        switch prepared {
        case .success(let ready)?: ready.tier == .read
        case .failure?, nil: true
        }
    }

    /// Runs one tool call after its `tool_call.started` event under the turn (an approval's events go under the
    /// started event); returns its `tool` message (the result envelope as the JSON text the model reads) with the
    /// `tool_call.completed`/`failed` event for the caller to write with the batch.
    private func runTool(
        _ call: ToolCall, prepared: Result<ToolRegistry.PreparedCall, ToolRegistry.Refusal>?, context: EventContext,
        logger: Logger
    ) async throws -> FinishedTool {
        let arguments = Redactor.shared.redact(String(call.arguments.prefix(4000)))
        var startPayload: [String: JSONValue] = [
            "tool": .string(call.name), "call_id": .string(call.id), "arguments": .string(arguments),
        ]
        if case .success(let ready) = prepared { startPayload["tier"] = .string(ready.tier.rawValue) }
        let startedID = try EventLog(database: database).append(.toolCallStarted, context, payload: startPayload)
        var approval: Approval?
        let result: ToolResult
        var spent = Duration.zero
        switch prepared {
        case .none:
            result = .failure("no tools are enabled", tier: .read)
        case .failure(let refusal):
            result = refusal.result
        case .success(let ready):
            if let gate {
                let began = ContinuousClock.now
                (result, approval) = try await gate.run(ready, context: context.child(of: startedID))
                spent = ContinuousClock.now - began
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
        let output = result.jsonText
        logger.info(
            "tool call",
            metadata: ["tool.name": "\(call.name)", "tool.ok": "\(result.ok)", "tool.ms": "\(result.durationMs)"])
        var timeless = result
        timeless.durationMs = 0
        let outcome = timeless.jsonText
        return FinishedTool(
            message: ConversationMessage(role: .tool, content: output, toolCallID: call.id, toolName: call.name),
            outcome: outcome,
            endType: result.ok ? .toolCallCompleted : .toolCallFailed, endContext: context.child(of: startedID),
            endPayload: summary, spent: spent)
    }
}

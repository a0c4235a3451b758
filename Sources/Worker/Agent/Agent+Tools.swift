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
    ///
    /// One transaction per batch: the first batch's `tool_call.started` events commit with `opening` (the turn's
    /// record), and each batch's ends and `tool` messages with the next batch's starts.
    func runTools(
        _ calls: [ToolCall], origin: ToolCallOrigin, run: RunHandle, context: EventContext, logger: Logger,
        opening: @escaping @Sendable (Database) throws -> Void = { _ in }
    ) async throws -> [FinishedTool] {
        let prepared = calls.map { call in (call, tools.map { $0.prepare(call, origin: origin) }) }
        let batches = Self.batches(readsOnly: prepared.map { Self.readsOnly($0.1) })
        let starts = prepared.map { Self.startPayload($0.0, prepared: $0.1) }
        let request = run.request
        var startedIDs = try await database.pool.write { db in
            try opening(db)
            return try Self.writeStarts(db, batches.first, starts, context: context)
        }
        var results: [FinishedTool] = []
        for (index, batch) in batches.enumerated() {
            // A cancelled run starts no further batch (whose starts were then not written).
            try Task.checkCancellation()
            let finished: [FinishedTool]
            if batch.count == 1 {
                let (call, ready) = prepared[batch.lowerBound]
                finished = [
                    try await runTool(
                        call, prepared: ready, startedID: startedIDs[0], context: context, logger: logger)
                ]
            } else {
                let ids = startedIDs
                finished = try await withThrowingTaskGroup(of: (Int, FinishedTool).self) { group in
                    for (offset, position) in batch.enumerated() {
                        let (call, ready) = prepared[position]
                        group.addTask {
                            (
                                position,
                                try await runTool(
                                    call, prepared: ready, startedID: ids[offset], context: context, logger: logger)
                            )
                        }
                    }
                    var outputs: [(Int, FinishedTool)] = []
                    for try await output in group { outputs.append(output) }
                    return outputs.sorted { $0.0 < $1.0 }.map(\.1)
                }
            }
            // A batch's tools run at once: the longest is the time the run waited on them.
            run.stopwatch.exclude(finished.map(\.spent).max() ?? .zero)
            // The batch's end events, its `tool` messages in the order the model asked, the run's count and the
            // next batch's starts: one transaction, so history never holds half a batch.
            let next = batches.indices.contains(index + 1) && !Task.isCancelled ? batches[index + 1] : nil
            startedIDs = try await database.pool.write { db in
                for tool in finished {
                    try EventLog.append(db, tool.endType, tool.endContext, payload: tool.endPayload)
                    try ConversationStore.append(
                        db, conversationID: request.conversationID, tool.message, inboxID: request.inboxID,
                        runID: request.runID)
                }
                try RunLog.countToolCalls(db, runID: request.runID, count: finished.count)
                return try Self.writeStarts(db, next, starts, context: context)
            }
            results += finished
        }
        return results
    }

    /// Writes the `tool_call.started` events of `batch` under `context`, in order, and returns their ids.
    private static func writeStarts(
        _ db: Database, _ batch: Range<Int>?, _ starts: [[String: JSONValue]], context: EventContext
    ) throws -> [Int64] {
        guard let batch else { return [] }
        return try batch.map { try EventLog.append(db, .toolCallStarted, context, payload: starts[$0]) }
    }

    /// The `tool_call.started` payload of `call`: the tool, the call's id, its arguments (redacted, at most 4000
    /// characters) and its tier when it was prepared.
    private static func startPayload(
        _ call: ToolCall, prepared: Result<ToolRegistry.PreparedCall, ToolRegistry.Refusal>?
    ) -> [String: JSONValue] {
        let arguments = Redactor.shared.redact(String(call.arguments.prefix(4000)))
        var payload: [String: JSONValue] = [
            "tool": .string(call.name), "call_id": .string(call.id), "arguments": .string(arguments),
        ]
        if case .success(let ready) = prepared { payload["tier"] = .string(ready.tier.rawValue) }
        return payload
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

    /// Runs one tool call whose `tool_call.started` event is `startedID` (an approval's events go under it); returns
    /// its `tool` message (the result envelope as the JSON text the model reads) with the
    /// `tool_call.completed`/`failed` event for the caller to write with the batch.
    private func runTool(
        _ call: ToolCall, prepared: Result<ToolRegistry.PreparedCall, ToolRegistry.Refusal>?, startedID: Int64,
        context: EventContext, logger: Logger
    ) async throws -> FinishedTool {
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

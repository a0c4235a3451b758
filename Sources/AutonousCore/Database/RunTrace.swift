import GRDB

/// One run as a tree: its turns, each with its model call and its tool calls, each tool call with its approvals.
public struct RunTrace: Codable, Sendable, Equatable {
    public var run: RunRecord
    public var turns: [Turn]

    public init(run: RunRecord, turns: [Turn]) {
        self.run = run
        self.turns = turns
    }

    /// One turn: a model call (after its retries) and the tool calls it asked for.
    public struct Turn: Codable, Sendable, Equatable {
        /// 1 for the first.
        public var turn: Int
        /// `completed`, `failed`, `refused` (the control plane refused the call: `stopReason` says why) or
        /// `running`.
        public var outcome: String
        public var stopReason: String?
        public var startedMs: Int64
        public var endedMs: Int64?
        /// Nil when no call was made (refused, or still running).
        public var modelCall: ModelCall?
        public var toolCalls: [ToolCall]

        public init(
            turn: Int, outcome: String, stopReason: String? = nil, startedMs: Int64, endedMs: Int64? = nil,
            modelCall: ModelCall? = nil, toolCalls: [ToolCall] = []
        ) {
            self.turn = turn
            self.outcome = outcome
            self.stopReason = stopReason
            self.startedMs = startedMs
            self.endedMs = endedMs
            self.modelCall = modelCall
            self.toolCalls = toolCalls
        }
    }

    /// A `model_calls` row: latency over all its attempts, tokens as the API reported them.
    public struct ModelCall: Codable, Sendable, Equatable {
        public var provider: String
        public var model: String
        /// `ok` or `failed`.
        public var status: String
        public var httpStatus: Int?
        public var latencyMs: Int64
        public var timeToFirstTokenMs: Int64?
        public var retries: Int
        public var streamed: Bool
        public var inputTokens: Int?
        public var outputTokens: Int?
        public var cachedTokens: Int?
        public var reasoningTokens: Int?
        public var finishReason: String?
        /// `ModelErrorClass`'s raw value when the call failed.
        public var errorClass: String?
        public var error: String?

        public init(
            provider: String, model: String, status: String, httpStatus: Int? = nil, latencyMs: Int64,
            timeToFirstTokenMs: Int64? = nil, retries: Int = 0, streamed: Bool = false, inputTokens: Int? = nil,
            outputTokens: Int? = nil, cachedTokens: Int? = nil, reasoningTokens: Int? = nil,
            finishReason: String? = nil, errorClass: String? = nil, error: String? = nil
        ) {
            self.provider = provider
            self.model = model
            self.status = status
            self.httpStatus = httpStatus
            self.latencyMs = latencyMs
            self.timeToFirstTokenMs = timeToFirstTokenMs
            self.retries = retries
            self.streamed = streamed
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.cachedTokens = cachedTokens
            self.reasoningTokens = reasoningTokens
            self.finishReason = finishReason
            self.errorClass = errorClass
            self.error = error
        }
    }

    /// One tool call, from its `tool_call.started` event to its `tool_call.completed` or `failed`.
    public struct ToolCall: Codable, Sendable, Equatable {
        public var callId: String
        public var tool: String
        public var tier: String?
        /// `ok`, `failed` or `running`.
        public var outcome: String
        public var startedMs: Int64
        /// The tool's own running time (without an approval's wait); nil while it runs.
        public var durationMs: Int64?
        public var endedMs: Int64?
        public var error: String?
        public var approvals: [Approval]

        public init(
            callId: String, tool: String, tier: String? = nil, outcome: String, startedMs: Int64,
            durationMs: Int64? = nil, endedMs: Int64? = nil, error: String? = nil, approvals: [Approval] = []
        ) {
            self.callId = callId
            self.tool = tool
            self.tier = tier
            self.outcome = outcome
            self.startedMs = startedMs
            self.durationMs = durationMs
            self.endedMs = endedMs
            self.error = error
            self.approvals = approvals
        }
    }

    /// An admin's decision a tool call waited for.
    public struct Approval: Codable, Sendable, Equatable {
        public var id: String
        /// `pending`, `approved`, `rejected` or `expired`.
        public var status: String
        public var requestedMs: Int64
        public var decidedMs: Int64?
        public var decidedBy: String?
        public var decidedVia: String?

        public init(
            id: String, status: String, requestedMs: Int64, decidedMs: Int64? = nil, decidedBy: String? = nil,
            decidedVia: String? = nil
        ) {
            self.id = id
            self.status = status
            self.requestedMs = requestedMs
            self.decidedMs = decidedMs
            self.decidedBy = decidedBy
            self.decidedVia = decidedVia
        }
    }
}

extension RunLog {
    /// The tree of run `id`, or nil when no run has that id.
    ///
    /// Reads the `runs` row, the run's `model_calls` (index `model_calls_run`) and its events (along the rowid,
    /// within the run's span of ids), so its cost follows the run's size and what ran beside it, not the log's.
    /// The tree hangs on the events' parent ids: `turn.started` under the run, a call's end and its tool calls
    /// under its turn, approvals under their tool call.
    public static func trace(_ db: Database, id: String) throws -> RunTrace? {
        guard let run = try fetch(db, id: id) else { return nil }
        let events = try Row.fetchAll(
            db,
            sql: """
                SELECT id, ts_ms, parent_id, type, \(traceColumns) FROM events
                WHERE id BETWEEN ? AND ? AND run_id = ?
                    AND type IN (\(traceTypes.map { "'\($0)'" }.joined(separator: ", "))) ORDER BY id
                """,
            arguments: [run.eventIDs.lowerBound, run.eventIDs.upperBound, id])
        let calls = try Row.fetchAll(
            db, sql: "SELECT * FROM model_calls WHERE run_id = ? ORDER BY id", arguments: [id])
        return RunTrace(run: run, turns: assembleTurns(events: events, modelCalls: calls))
    }

    /// The event types the tree is built from.
    static let traceTypes = [
        "turn.started", "turn.completed", "turn.failed", "model.call.refused", "tool_call.started",
        "tool_call.completed", "tool_call.failed", "approval.requested", "approval.decided",
    ]

    /// The payload fields the tree shows, as columns of the events' rows: extracted by SQLite, since decoding
    /// whole payloads would cost more than the query. Cast, so a payload written otherwise than expected reads as
    /// text or a number, never as a crash.
    static let traceColumns: String = [
        ("turn", "INTEGER"), ("stop_reason", "TEXT"), ("call_id", "TEXT"), ("tool", "TEXT"), ("tier", "TEXT"),
        ("duration_ms", "INTEGER"), ("error", "TEXT"), ("approval_id", "TEXT"), ("decision", "TEXT"), ("by", "TEXT"),
        ("via", "TEXT"),
    ].map { (name: String, type: String) -> String in
        "CAST(json_extract(payload, '$.\(name)') AS \(type)) AS \(name)"
    }.joined(separator: ", ")

    /// The turns built from a run's events (oldest first; `id`, `ts_ms`, `parent_id`, `type` and the
    /// `traceColumns`) and its `model_calls` rows.
    static func assembleTurns(events: [Row], modelCalls: [Row]) -> [RunTrace.Turn] {
        var turns: [RunTrace.Turn] = []
        var turnIndex: [Int64: Int] = [:]
        var toolIndex: [Int64: (turn: Int, call: Int)] = [:]
        var approvalIndex: [Int64: (turn: Int, call: Int, approval: Int)] = [:]
        for event in events {
            let (id, tsMs, type): (Int64, Int64, String) = (event["id"], event["ts_ms"], event["type"])
            let parent: Int64 = event["parent_id"] ?? -1
            switch type {
            case "turn.started":
                turnIndex[id] = turns.count
                let number = (event["turn"] as Int?) ?? turns.count + 1
                turns.append(RunTrace.Turn(turn: number, outcome: "running", startedMs: tsMs))
            case "turn.completed", "turn.failed", "model.call.refused":
                guard let index = turnIndex[parent] else { continue }
                turns[index].endedMs = tsMs
                switch type {
                case "turn.completed": turns[index].outcome = "completed"
                case "turn.failed": turns[index].outcome = "failed"
                default:
                    turns[index].outcome = "refused"
                    turns[index].stopReason = event["stop_reason"]
                }
            case "tool_call.started":
                guard let index = turnIndex[parent] else { continue }
                toolIndex[id] = (index, turns[index].toolCalls.count)
                turns[index].toolCalls.append(
                    RunTrace.ToolCall(
                        callId: event["call_id"] ?? "", tool: event["tool"] ?? "?",
                        tier: event["tier"], outcome: "running", startedMs: tsMs))
            case "tool_call.completed", "tool_call.failed":
                guard let (turn, call) = toolIndex[parent] else { continue }
                var tool = turns[turn].toolCalls[call]
                tool.outcome = type == "tool_call.completed" ? "ok" : "failed"
                tool.endedMs = tsMs
                tool.durationMs = event["duration_ms"]
                tool.tier = event["tier"] ?? tool.tier
                tool.error = event["error"]
                turns[turn].toolCalls[call] = tool
            case "approval.requested":
                guard let (turn, call) = toolIndex[parent] else { continue }
                approvalIndex[id] = (turn, call, turns[turn].toolCalls[call].approvals.count)
                turns[turn].toolCalls[call].approvals.append(
                    RunTrace.Approval(
                        id: event["approval_id"] ?? "", status: "pending", requestedMs: tsMs))
            case "approval.decided":
                guard let (turn, call, index) = approvalIndex[parent] else { continue }
                var approval = turns[turn].toolCalls[call].approvals[index]
                approval.status = event["decision"] ?? approval.status
                approval.decidedMs = tsMs
                approval.decidedBy = event["by"]
                approval.decidedVia = event["via"]
                turns[turn].toolCalls[call].approvals[index] = approval
            default:
                continue
            }
        }
        // A model call names its turn's event; a row without one (an older worker's) is matched by turn number.
        for row in modelCalls {
            let eventID: Int64? = row["event_id"]
            let number: Int? = row["turn"]
            guard
                let index = eventID.flatMap({ turnIndex[$0] })
                    ?? number.flatMap({ number in turns.firstIndex { $0.turn == number } })
            else { continue }
            turns[index].modelCall = modelCall(row)
        }
        return turns
    }

    private static func modelCall(_ row: Row) -> RunTrace.ModelCall {
        RunTrace.ModelCall(
            provider: row["provider"], model: row["model"], status: row["status"], httpStatus: row["http_status"],
            latencyMs: row["latency_ms"], timeToFirstTokenMs: row["time_to_first_token_ms"], retries: row["retries"],
            streamed: row["streamed"], inputTokens: row["input_tokens"], outputTokens: row["output_tokens"],
            cachedTokens: row["cached_tokens"], reasoningTokens: row["reasoning_tokens"],
            finishReason: row["finish_reason"], errorClass: row["error_class"], error: row["error"])
    }
}

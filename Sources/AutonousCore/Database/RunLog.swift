import GRDB

/// One agent run as `runs` keeps it: who asked, how it ended, and what it spent. Encoded, it is `Run` in
/// io.autonous.Control (`autonousctl runs`, the head of `autonousctl trace`).
public struct RunRecord: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case running, answered, stopped, failed, cancelled, interrupted
    }

    public var id: String
    public var conversationID: String
    public var inboxID: Int64?
    public var commander: String
    public var requestedBy: String
    public var eventID: Int64?
    public var provider: String?
    public var model: String?
    public var status: Status
    public var stopReason: String?
    public var turns: Int
    public var modelCalls: Int
    public var toolCalls: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var cachedTokens: Int
    public var reasoningTokens: Int
    public var costUSD: Double?
    public var error: String?
    public var startedMs: Int64
    public var endedMs: Int64?
    /// The run's span in the worker's event log: every event of the run has an id from `firstEventID` to
    /// `lastEventID`, or to the end of the log while `lastEventID` is nil (the run goes on). Not in
    /// io.autonous.Control: how the log finds a run's events is the database's business.
    public var firstEventID: Int64?
    public var lastEventID: Int64?

    /// The ids the run's events lie within: its span, open at either end the row does not record (a row written
    /// by a worker of an earlier version has no span, and then every id is in it).
    public var eventIDs: ClosedRange<Int64> { (firstEventID ?? 0) ... (lastEventID ?? .max) }

    /// The names in io.autonous.Control.
    enum CodingKeys: String, CodingKey {
        case id, commander, requestedBy, provider, model, status, stopReason, turns, modelCalls, toolCalls
        case inputTokens, outputTokens, cachedTokens, reasoningTokens, error, startedMs, endedMs
        case conversationID = "conversationId"
        case inboxID = "inboxId"
        case eventID = "eventId"
        case costUSD = "costUsd"
    }

    /// How long the run took, or has taken by `nowMs` while it goes on.
    public func durationMs(nowMs: Int64) -> Int64 { max(0, (endedMs ?? nowMs) - startedMs) }

    public init(
        id: String, conversationID: String, inboxID: Int64?, commander: String, requestedBy: String,
        startedMs: Int64
    ) {
        self.id = id
        self.conversationID = conversationID
        self.inboxID = inboxID
        self.commander = commander
        self.requestedBy = requestedBy
        self.status = .running
        self.turns = 0
        self.modelCalls = 0
        self.toolCalls = 0
        self.inputTokens = 0
        self.outputTokens = 0
        self.cachedTokens = 0
        self.reasoningTokens = 0
        self.startedMs = startedMs
    }

    init(row: Row) {
        id = row["id"]
        conversationID = row["conversation_id"]
        inboxID = row["inbox_id"]
        commander = row["commander"]
        requestedBy = row["requested_by"]
        eventID = row["event_id"]
        provider = row["provider"]
        model = row["model"]
        status = Status(rawValue: row["status"]) ?? .failed
        stopReason = row["stop_reason"]
        turns = row["turns"]
        modelCalls = row["model_calls"]
        toolCalls = row["tool_calls"]
        inputTokens = row["input_tokens"]
        outputTokens = row["output_tokens"]
        cachedTokens = row["cached_tokens"]
        reasoningTokens = row["reasoning_tokens"]
        costUSD = row["cost_usd"]
        error = row["error"]
        startedMs = row["started_ms"]
        endedMs = row["ended_ms"]
        firstEventID = row["first_event_id"]
        lastEventID = row["last_event_id"]
    }
}

/// Tokens one model call used, as the API reported them.
public struct TokenUsage: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var cached: Int
    public var reasoning: Int

    public init(input: Int = 0, output: Int = 0, cached: Int = 0, reasoning: Int = 0) {
        self.input = input
        self.output = output
        self.cached = cached
        self.reasoning = reasoning
    }

    public var total: Int { input + output }
}

/// Writes and reads `runs`. Every write happens inside the caller's transaction, beside the events and messages
/// of the same step.
public enum RunLog {
    /// Records the start of `run`. An earlier attempt at the same inbox row that never ended (its worker died) is
    /// marked interrupted.
    public static func start(_ db: Database, _ run: RunRecord) throws {
        if let inboxID = run.inboxID {
            try db.executeCached(
                sql: """
                    UPDATE runs SET status = 'interrupted', stop_reason = 'interrupted', ended_ms = ?,
                        last_event_id = \(lastEventIDNow)
                    WHERE inbox_id = ? AND status = 'running' AND id <> ?
                    """,
                arguments: [run.startedMs, inboxID, run.id])
        }
        // The span starts at the run's first event, `agent.started`, written in this transaction; with no event
        // yet, at the id the next event will get.
        try db.executeCached(
            sql: """
                INSERT INTO runs (id, conversation_id, inbox_id, commander, requested_by, event_id, provider, model,
                    status, started_ms, first_event_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, coalesce(?, (SELECT coalesce(max(id), 0) + 1 FROM events)))
                """,
            arguments: [
                run.id, run.conversationID, run.inboxID, run.commander, run.requestedBy, run.eventID, run.provider,
                run.model, run.startedMs, run.eventID,
            ])
    }

    /// A run's span closes at the log's last event when the run ends: every event it wrote is at or below it, and
    /// an event of the run written after widens the span (the `events_extend_run_span` trigger).
    static let lastEventIDNow = "(SELECT coalesce(max(id), 0) FROM events)"

    /// Adds one model call (and the turn it began, when `newTurn`) to a running run.
    public static func countModelCall(
        _ db: Database, runID: String, usage: TokenUsage, costUSD: Double?, newTurn: Bool
    ) throws {
        try db.executeCached(
            sql: """
                UPDATE runs SET model_calls = model_calls + 1, turns = turns + ?, input_tokens = input_tokens + ?,
                    output_tokens = output_tokens + ?, cached_tokens = cached_tokens + ?,
                    reasoning_tokens = reasoning_tokens + ?,
                    cost_usd = CASE WHEN ? IS NULL THEN cost_usd ELSE coalesce(cost_usd, 0) + ? END
                WHERE id = ?
                """,
            arguments: [
                newTurn ? 1 : 0, usage.input, usage.output, usage.cached, usage.reasoning, costUSD, costUSD, runID,
            ])
    }

    /// Adds `count` tool calls to a running run.
    public static func countToolCalls(_ db: Database, runID: String, count: Int) throws {
        try db.executeCached(
            sql: "UPDATE runs SET tool_calls = tool_calls + ? WHERE id = ?", arguments: [count, runID])
    }

    /// Ends a running run; a run that ended already keeps its first ending.
    public static func finish(
        _ db: Database, runID: String, status: RunRecord.Status, stopReason: String, error: String? = nil,
        endedMs: Int64 = AppDatabase.nowMilliseconds()
    ) throws {
        precondition(status != .running, "a run ends in a final status")
        try db.executeCached(
            sql: """
                UPDATE runs SET status = ?, stop_reason = ?, error = ?, ended_ms = ?, last_event_id = \(lastEventIDNow)
                WHERE id = ? AND status = 'running'
                """,
            arguments: [status.rawValue, stopReason, error, endedMs, runID])
    }

    /// Marks every run still running as interrupted: called when a worker starts, since only one worker runs at a
    /// time and the one that ran them is gone. Returns how many there were.
    @discardableResult
    public static func interruptAbandoned(_ db: Database, now: Int64 = AppDatabase.nowMilliseconds()) throws -> Int {
        try db.executeCached(
            sql: """
                UPDATE runs SET status = 'interrupted', stop_reason = 'interrupted', ended_ms = ?,
                    last_event_id = \(lastEventIDNow)
                WHERE status = 'running'
                """,
            arguments: [now])
        return db.changesCount
    }

    /// One run by id.
    public static func fetch(_ db: Database, id: String) throws -> RunRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(RunRecord.init(row:))
    }

    /// Runs started at or after `sinceMs`, newest first, optionally of one conversation.
    ///
    /// Reads backwards along `runs_started`, or `runs_conversation` for one conversation (the condition is left out
    /// rather than written `? IS NULL OR …`, which SQLite cannot use an index for).
    public static func list(_ db: Database, sinceMs: Int64 = 0, conversationID: String? = nil, limit: Int = 50) throws
        -> [RunRecord]
    {
        let conversation = conversationID == nil ? "" : "AND conversation_id = ?"
        var arguments: StatementArguments = [sinceMs]
        if let conversationID { arguments += [conversationID] }
        arguments += [max(0, limit)]
        return try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM runs WHERE started_ms >= ? \(conversation)
                ORDER BY started_ms DESC, id DESC LIMIT ?
                """,
            arguments: arguments
        ).map(RunRecord.init(row:))
    }
}

import GRDB

/// One call to a model provider, successful or not, as stored in `model_calls`.
public struct ModelCallRecord: Sendable, Equatable {
    public var runID: String?
    public var conversationID: String?
    public var eventID: Int64?
    public var provider: String
    public var model: String
    public var ok: Bool
    public var httpStatus: Int?
    public var latencyMs: Int64
    public var retries: Int
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var cachedTokens: Int?
    public var tokensSystem: Int?
    public var tokensHistory: Int?
    public var tokensContext: Int?
    public var tokensToolOutput: Int?
    public var contextProfile: String?
    /// Estimated tokens of the tool definitions offered with the prompt.
    public var tokensTools: Int?
    /// How hard the prompt's history was compressed: `normal`, or `harder` after a context-length error.
    public var contextLevel: String?
    public var finishReason: String?
    public var error: String?
    /// The run's turn this call belongs to (1 for the first).
    public var turn: Int?
    public var timeToFirstTokenMs: Int64?
    public var reasoningTokens: Int?
    /// The failure's class (`ModelErrorClass`'s raw value) when the call failed.
    public var errorClass: String?
    /// The answer arrived as a stream (SSE).
    public var streamed = false

    public init(provider: String, model: String, ok: Bool, latencyMs: Int64) {
        self.provider = provider
        self.model = model
        self.ok = ok
        self.latencyMs = latencyMs
        self.retries = 0
    }
}

/// Writes `model_calls` rows.
public enum ModelCallLog {
    /// The error class of a failure only an operator can fix (`ModelErrorClass.fatal` in the worker).
    public static let fatalErrorClass = "fatal"

    /// The latest model call as `autonousctl status` shows it.
    public struct Latest: Sendable, Equatable {
        public var provider: String
        public var tsMs: Int64
        /// The call's error when it failed with `fatalErrorClass`.
        public var fatalError: String?
    }

    /// The latest model call (the highest id), or nil before the first.
    public static func latest(_ db: Database) throws -> Latest? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT provider, ts_ms, error_class, error FROM model_calls ORDER BY id DESC LIMIT 1")
        else { return nil }
        let errorClass: String? = row["error_class"]
        let error: String? = row["error"]
        return Latest(
            provider: row["provider"], tsMs: row["ts_ms"],
            fatalError: errorClass == fatalErrorClass ? (error ?? "a fatal model error") : nil)
    }

    /// Inserts a record inside an existing transaction and returns its id.
    @discardableResult
    public static func insert(_ db: Database, _ record: ModelCallRecord) throws -> Int64 {
        try db.executeCached(
            sql: """
                INSERT INTO model_calls (ts_ms, run_id, conversation_id, event_id, provider, model, status,
                    http_status, latency_ms, retries, input_tokens, output_tokens, cached_tokens, tokens_system,
                    tokens_history, tokens_context, tokens_tool_output, context_profile, finish_reason, error, turn,
                    time_to_first_token_ms, reasoning_tokens, error_class, streamed, tokens_tools, context_level)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                AppDatabase.nowMilliseconds(), record.runID, record.conversationID, record.eventID, record.provider,
                record.model, record.ok ? "ok" : "failed", record.httpStatus, record.latencyMs, record.retries,
                record.inputTokens, record.outputTokens, record.cachedTokens, record.tokensSystem,
                record.tokensHistory, record.tokensContext, record.tokensToolOutput, record.contextProfile,
                record.finishReason, record.error, record.turn, record.timeToFirstTokenMs, record.reasoningTokens,
                record.errorClass, record.streamed, record.tokensTools, record.contextLevel,
            ])
        return db.lastInsertedRowID
    }
}

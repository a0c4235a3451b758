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
    /// Inserts a record inside an existing transaction and returns its id.
    @discardableResult
    public static func insert(_ db: Database, _ record: ModelCallRecord) throws -> Int64 {
        try db.execute(
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

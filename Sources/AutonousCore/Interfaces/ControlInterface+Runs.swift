/// The review part of `io.autonous.Control`: agent runs, one run's tree, and what the model calls spent.
extension ControlInterface {
    static let runTypes = """
        # One agent run. commander is where the message came from (telegram, local), requestedBy who sent it, eventId
        # its agent.started event. status is one of running, answered, stopped, failed, cancelled, interrupted;
        # stopReason says why it ended (answered, max_turns, daily_budget, no_progress, model_fatal, ...). Tokens as
        # the API reported them; costUsd by the price table (null for a model without a price). Times are Unix
        # milliseconds; endedMs is null while it runs.
        type Run (
          id: string,
          conversationId: string,
          inboxId: ?int,
          commander: string,
          requestedBy: string,
          eventId: ?int,
          status: string,
          stopReason: ?string,
          turns: int,
          modelCalls: int,
          toolCalls: int,
          inputTokens: int,
          outputTokens: int,
          cachedTokens: int,
          reasoningTokens: int,
          costUsd: ?float,
          provider: ?string,
          model: ?string,
          error: ?string,
          startedMs: int,
          endedMs: ?int
        )

        # A turn's model call, after its retries: latencyMs covers every attempt. status is ok or failed;
        # errorClass is one of context_length_exceeded, fatal, rate_limited, server, timeout, transport, malformed,
        # cancelled.
        type TraceModelCall (
          provider: string,
          model: string,
          status: string,
          httpStatus: ?int,
          latencyMs: int,
          timeToFirstTokenMs: ?int,
          retries: int,
          streamed: bool,
          inputTokens: ?int,
          outputTokens: ?int,
          cachedTokens: ?int,
          reasoningTokens: ?int,
          finishReason: ?string,
          errorClass: ?string,
          error: ?string
        )

        # An admin's decision a tool call waited for: status is pending, approved, rejected or expired.
        type TraceApproval (
          id: string,
          status: string,
          requestedMs: int,
          decidedMs: ?int,
          decidedBy: ?string,
          decidedVia: ?string
        )

        # A tool call: outcome is ok, failed or running; durationMs is the tool's own time.
        type TraceToolCall (
          callId: string,
          tool: string,
          tier: ?string,
          outcome: string,
          startedMs: int,
          durationMs: ?int,
          endedMs: ?int,
          error: ?string,
          approvals: []TraceApproval
        )

        # A turn: outcome is completed, failed, refused (stopReason says why the call was not made) or running.
        type TraceTurn (
          turn: int,
          outcome: string,
          stopReason: ?string,
          startedMs: int,
          endedMs: ?int,
          modelCall: ?TraceModelCall,
          toolCalls: []TraceToolCall
        )

        # One run as a tree: run, turns, each turn's model call and tool calls, each tool call's approvals.
        type RunTrace (
          run: Run,
          turns: []TraceTurn
        )

        # The model calls of one UTC day (key 2026-12-05) or one model (key its name).
        type UsageRow (
          key: string,
          modelCalls: int,
          failedCalls: int,
          inputTokens: int,
          outputTokens: int,
          cachedTokens: int,
          reasoningTokens: int,
          costUsd: ?float
        )

        # Today's spend as the daily budget counts it (calls in flight at their worst case), and the budgets:
        # tokenBudget null is unlimited, costBudgetUsd null is none.
        type UsageToday (
          day: string,
          tokens: int,
          costUsd: float,
          openReservations: int,
          tokenBudget: ?int,
          costBudgetUsd: ?float
        )
        """

    static let runMethods = """
        # Runs started at or after sinceMs (default: all), newest first, optionally of one conversation; limit is
        # 1 to 1000 (default 50).
        method ListRuns(sinceMs: ?int, conversationId: ?string, limit: ?int) -> (runs: []Run)

        # One run as a tree.
        method TraceRun(id: string) -> (trace: RunTrace)

        # Tokens and cost of the model calls made at or after sinceMs (default: 7 days ago), by is day (default,
        # oldest first) or model (most tokens first); total adds the rows up; today is the day's spend against the
        # daily budget.
        method GetUsage(sinceMs: ?int, by: ?string) -> (
          by: string,
          sinceMs: int,
          rows: []UsageRow,
          total: UsageRow,
          today: UsageToday
        )

        # No run has this id.
        error NoSuchRun (id: string)
        """

    /// The parameters of `ListRuns`.
    public struct ListRunsRequest: Codable, Sendable, Equatable {
        public var sinceMs: Int64?
        public var conversationId: String?
        public var limit: Int?

        public init(sinceMs: Int64? = nil, conversationId: String? = nil, limit: Int? = nil) {
            self.sinceMs = sinceMs
            self.conversationId = conversationId
            self.limit = limit
        }
    }

    /// The reply of `ListRuns`.
    public struct RunList: Codable, Sendable, Equatable {
        public var runs: [RunRecord]

        public init(runs: [RunRecord]) { self.runs = runs }
    }

    /// The parameters of `TraceRun`.
    public struct TraceRunRequest: Codable, Sendable, Equatable {
        public var id: String

        public init(id: String) { self.id = id }
    }

    /// The reply of `TraceRun`.
    public struct TraceRunResponse: Codable, Sendable, Equatable {
        public var trace: RunTrace

        public init(trace: RunTrace) { self.trace = trace }
    }

    /// The parameters of `GetUsage`.
    public struct GetUsageRequest: Codable, Sendable, Equatable {
        public var sinceMs: Int64?
        /// `day` or `model`.
        public var by: String?

        public init(sinceMs: Int64? = nil, by: String? = nil) {
            self.sinceMs = sinceMs
            self.by = by
        }
    }
}

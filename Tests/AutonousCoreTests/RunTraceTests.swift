import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// `autonousctl runs`, `trace` and `usage` behind the control socket: the queries on a real worker database.
@Suite struct RunTraceTests {
    /// Writes a run the way the worker's agent does: `agent.started` and the `runs` row, two turns (the first asks
    /// for two tools, one of them waits for an approval), their model calls, and the end.
    @discardableResult
    private func recordRun(_ database: AppDatabase, id: String = "run-1", startedMs: Int64 = 1_000) throws
        -> Int64
    {
        try database.pool.write { db in
            let base = EventContext(runID: id, conversationID: "telegram:111")
            let started = try EventLog.append(db, .agentStarted, base, payload: ["model": .string("gpt-fake")])
            var run = RunRecord(
                id: id, conversationID: "telegram:111", inboxID: nil, commander: "telegram", requestedBy: "111",
                startedMs: startedMs)
            run.eventID = started
            run.provider = "openai"
            run.model = "gpt-fake"
            try RunLog.start(db, run)
            let runContext = base.child(of: started)

            let turn1 = try EventLog.append(db, .turnStarted, runContext, payload: ["turn": .int(1)])
            try recordCall(
                db, runID: id, turn: 1, eventID: turn1, latencyMs: 120, finish: "tool_calls",
                usage: TokenUsage(input: 100, output: 20, cached: 10, reasoning: 5), costUSD: 0.5)
            let turnContext = runContext.child(of: turn1)
            try EventLog.append(db, .turnCompleted, turnContext, payload: ["tool_calls": .int(2)])
            let read = try EventLog.append(
                db, .toolCallStarted, turnContext,
                payload: ["tool": .string("read"), "call_id": .string("call_a"), "tier": .string("read")])
            let bash = try EventLog.append(
                db, .toolCallStarted, turnContext,
                payload: ["tool": .string("bash"), "call_id": .string("call_b"), "tier": .string("network")])
            let requested = try EventLog.append(
                db, .approvalRequested, turnContext.child(of: bash), payload: ["approval_id": .string("abcd2345")])
            try EventLog.append(
                db, .approvalDecided, turnContext.child(of: requested),
                payload: [
                    "approval_id": .string("abcd2345"), "decision": .string("approved"), "by": .string("alice"),
                    "via": .string("telegram"),
                ])
            try EventLog.append(
                db, .toolCallCompleted, turnContext.child(of: read),
                payload: ["ok": .bool(true), "duration_ms": .int(3), "tier": .string("read")])
            try EventLog.append(
                db, .toolCallFailed, turnContext.child(of: bash),
                payload: ["ok": .bool(false), "duration_ms": .int(15), "error": .string("exit status 1")])
            try RunLog.countToolCalls(db, runID: id, count: 2)

            let turn2 = try EventLog.append(db, .turnStarted, runContext, payload: ["turn": .int(2)])
            try recordCall(
                db, runID: id, turn: 2, eventID: turn2, latencyMs: 80, finish: "stop",
                usage: TokenUsage(input: 150, output: 30), costUSD: 0.25)
            try EventLog.append(db, .turnCompleted, runContext.child(of: turn2), payload: [:])
            try RunLog.finish(db, runID: id, status: .answered, stopReason: "answered", endedMs: startedMs + 900)
            try EventLog.append(db, .agentCompleted, runContext, payload: [:])
            return started
        }
    }

    /// A turn's model call and the run's counters, as the agent writes them once the call answered.
    private func recordCall(
        _ db: Database, runID: String, turn: Int, eventID: Int64, latencyMs: Int64, finish: String,
        usage: TokenUsage, costUSD: Double
    ) throws {
        var call = ModelCallRecord(provider: "openai", model: "gpt-fake", ok: true, latencyMs: latencyMs)
        call.runID = runID
        call.turn = turn
        call.eventID = eventID
        call.inputTokens = usage.input
        call.outputTokens = usage.output
        call.cachedTokens = usage.cached
        call.reasoningTokens = usage.reasoning
        call.timeToFirstTokenMs = latencyMs / 3
        call.finishReason = finish
        try ModelCallLog.insert(db, call)
        try RunLog.countModelCall(db, runID: runID, usage: usage, costUSD: costUSD, newTurn: true)
    }

    @Test func aRunIsAssembledIntoTurnsModelCallsToolCallsAndApprovals() throws {
        let fixture = try TemporaryDatabase()
        try recordRun(fixture.database)
        // Another run's events in between must not leak into this one's tree.
        try recordRun(fixture.database, id: "run-2", startedMs: 5_000)
        let trace = try #require(try fixture.database.pool.read { db in try RunLog.trace(db, id: "run-1") })

        #expect(trace.run.id == "run-1")
        #expect(trace.run.status == .answered && trace.run.stopReason == "answered")
        #expect(trace.run.turns == 2 && trace.run.modelCalls == 2 && trace.run.toolCalls == 2)
        #expect(trace.run.inputTokens == 250 && trace.run.outputTokens == 50)
        #expect(trace.run.cachedTokens == 10 && trace.run.reasoningTokens == 5)
        #expect(trace.run.costUSD == 0.75)
        #expect(trace.run.durationMs(nowMs: 0) == 900)
        #expect(trace.turns.map(\.turn) == [1, 2])
        #expect(trace.turns.map(\.outcome) == ["completed", "completed"])

        let first = trace.turns[0]
        #expect(first.modelCall?.latencyMs == 120)
        #expect(first.modelCall?.timeToFirstTokenMs == 40)
        #expect(first.modelCall?.inputTokens == 100 && first.modelCall?.reasoningTokens == 5)
        #expect(first.modelCall?.finishReason == "tool_calls")
        #expect(first.toolCalls.map(\.tool) == ["read", "bash"])
        #expect(first.toolCalls.map(\.outcome) == ["ok", "failed"])
        #expect(first.toolCalls.map(\.durationMs) == [3, 15])
        #expect(first.toolCalls[1].error == "exit status 1")
        #expect(first.toolCalls[1].tier == "network")
        #expect(first.toolCalls[0].approvals.isEmpty)
        let approval = try #require(first.toolCalls[1].approvals.first)
        #expect(approval.id == "abcd2345" && approval.status == "approved")
        #expect(approval.decidedBy == "alice" && approval.decidedVia == "telegram")
        #expect(approval.decidedMs != nil)

        let second = trace.turns[1]
        #expect(second.toolCalls.isEmpty)
        #expect(second.modelCall?.outputTokens == 30 && second.modelCall?.finishReason == "stop")
        // The tree's model calls add up to the run's counters.
        let calls = trace.turns.compactMap(\.modelCall)
        #expect(calls.reduce(0) { $0 + ($1.inputTokens ?? 0) } == trace.run.inputTokens)
        #expect(calls.reduce(0) { $0 + ($1.outputTokens ?? 0) } == trace.run.outputTokens)
    }

    @Test func aRefusedAndARunningTurnSayWhatHappened() throws {
        let events = [
            event(10, nil, "agent.started"),
            event(11, 10, "turn.started", ["turn": 1]),
            event(12, 11, "model.call.refused", ["stop_reason": "daily_budget"]),
            event(13, 10, "turn.started", ["turn": 2]),
            event(14, 13, "tool_call.started", ["tool": "ls", "call_id": "c1"]),
        ]
        let turns = RunLog.assembleTurns(events: events, modelCalls: [])
        #expect(turns.map(\.outcome) == ["refused", "running"])
        #expect(turns[0].stopReason == "daily_budget" && turns[0].endedMs == 12)
        #expect(turns[0].modelCall == nil)
        #expect(turns[1].toolCalls.map(\.outcome) == ["running"])
        #expect(turns[1].toolCalls.first?.durationMs == nil)
    }

    @Test func anUnknownRunIsNil() throws {
        let fixture = try TemporaryDatabase()
        try recordRun(fixture.database)
        #expect(try fixture.database.pool.read { db in try RunLog.trace(db, id: "no-such-run") } == nil)
    }

    @Test func runsAreListedNewestFirstSinceATimeAndByConversation() throws {
        let fixture = try TemporaryDatabase()
        try recordRun(fixture.database, id: "old", startedMs: 1_000)
        try recordRun(fixture.database, id: "new", startedMs: 9_000)
        try fixture.database.pool.write { db in
            try RunLog.start(
                db,
                RunRecord(
                    id: "elsewhere", conversationID: "operator", inboxID: nil, commander: "local",
                    requestedBy: "root", startedMs: 5_000))
        }
        let all = try fixture.database.pool.read { db in try RunLog.list(db) }
        #expect(all.map(\.id) == ["new", "elsewhere", "old"])
        let recent = try fixture.database.pool.read { db in try RunLog.list(db, sinceMs: 5_000) }
        #expect(recent.map(\.id) == ["new", "elsewhere"])
        let chat = try fixture.database.pool.read { db in try RunLog.list(db, conversationID: "telegram:111") }
        #expect(chat.map(\.id) == ["new", "old"])
        #expect(try fixture.database.pool.read { db in try RunLog.list(db, limit: 1) }.map(\.id) == ["new"])
        #expect(all[1].endedMs == nil && all[1].durationMs(nowMs: 7_000) == 2_000)
    }

    @Test func theLatestModelCallNamesItsProviderAndOnlyAFatalError() throws {
        let fixture = try TemporaryDatabase()
        #expect(try fixture.database.pool.read { db in try ModelCallLog.latest(db) } == nil)
        func insert(errorClass: String?) throws {
            var call = ModelCallRecord(provider: "scripted", model: "m", ok: errorClass == nil, latencyMs: 1)
            call.errorClass = errorClass
            call.error = errorClass.map { "failed: \($0)" }
            try fixture.database.pool.write { db in _ = try ModelCallLog.insert(db, call) }
        }
        try insert(errorClass: ModelCallLog.fatalErrorClass)
        let fatal = try fixture.database.pool.read { db in try ModelCallLog.latest(db) }
        #expect(fatal?.provider == "scripted" && fatal?.fatalError == "failed: fatal")
        try insert(errorClass: "rate_limited")
        #expect(try fixture.database.pool.read { db in try ModelCallLog.latest(db) }?.fatalError == nil)
        try insert(errorClass: nil)
        #expect(try fixture.database.pool.read { db in try ModelCallLog.latest(db) }?.fatalError == nil)
    }

    // MARK: usage

    private static let day1 = Int64(1_796_428_800_000)  // 2026-12-05T00:00:00Z
    private static let hour = Int64(3_600_000)

    /// A model call at `tsMs`, inserted as the worker's log has it.
    private func modelCall(
        _ db: Database, at tsMs: Int64, model: String, input: Int, output: Int, cached: Int = 0, ok: Bool = true
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO model_calls (ts_ms, run_id, provider, model, status, latency_ms, input_tokens,
                    output_tokens, cached_tokens, reasoning_tokens)
                VALUES (?, 'r', 'openai', ?, ?, 10, ?, ?, ?, 1)
                """,
            arguments: [tsMs, model, ok ? "ok" : "failed", ok ? input : nil, ok ? output : nil, ok ? cached : nil])
    }

    private func usageDatabase() throws -> TemporaryDatabase {
        let fixture = try TemporaryDatabase()
        try fixture.database.pool.write { db in
            try modelCall(db, at: Self.day1 - Self.hour, model: "gpt-fake", input: 1_000, output: 100)
            try modelCall(db, at: Self.day1 + Self.hour, model: "gpt-fake", input: 2_000, output: 200, cached: 500)
            try modelCall(db, at: Self.day1 + 2 * Self.hour, model: "gpt-big", input: 10_000, output: 1_000)
            try modelCall(db, at: Self.day1 + 3 * Self.hour, model: "gpt-big", input: 0, output: 0, ok: false)
        }
        return fixture
    }

    private let prices = PriceTable(prices: [
        "gpt-fake": .init(input: 1, output: 2)  // dollars per million tokens
    ])

    @Test func usageIsAddedUpPerUTCDay() throws {
        let fixture = try usageDatabase()
        let report = try fixture.database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: 0, by: .day, prices: prices, budget: DailyBudget(tokens: 100_000),
                nowMs: Self.day1 + 4 * Self.hour)
        }
        #expect(report.by == "day")
        #expect(report.rows.map(\.key) == ["2026-12-04", "2026-12-05"])
        #expect(report.rows.map(\.modelCalls) == [1, 3])
        #expect(report.rows.map(\.failedCalls) == [0, 1])
        #expect(report.rows.map(\.inputTokens) == [1_000, 12_000])
        #expect(report.rows.map(\.outputTokens) == [100, 1_200])
        #expect(report.rows.map(\.cachedTokens) == [0, 500])
        #expect(report.rows.map(\.reasoningTokens) == [1, 3])
        // gpt-big has no price, so a day with its calls has no known cost.
        #expect(report.rows[0].costUsd == 0.0012)
        #expect(report.rows[1].costUsd == nil)
        #expect(report.total.modelCalls == 4 && report.total.inputTokens == 13_000 && report.total.costUsd == nil)
        #expect(report.today.day == "2026-12-05")
        #expect(report.today.tokenBudget == 100_000)
    }

    @Test func usageIsAddedUpPerModelMostTokensFirst() throws {
        let fixture = try usageDatabase()
        let report = try fixture.database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: 0, by: .model, prices: prices, budget: DailyBudget(tokens: nil), nowMs: Self.day1)
        }
        #expect(report.rows.map(\.key) == ["gpt-big", "gpt-fake"])
        #expect(report.rows.map(\.tokens) == [11_000, 3_300])
        #expect(report.rows.map(\.modelCalls) == [2, 2])
        // 2500 uncached and 500 cached input tokens at $1 per million, 300 output tokens at $2 per million.
        #expect(report.rows[1].costUsd == 0.0036)
        #expect(report.today.tokenBudget == nil)
    }

    @Test func usageOnlyCountsCallsSinceTheGivenTime() throws {
        let fixture = try usageDatabase()
        let report = try fixture.database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: Self.day1 + Self.hour + 1, by: .model, prices: nil, budget: DailyBudget(),
                nowMs: Self.day1)
        }
        #expect(report.rows.map(\.key) == ["gpt-big"])
        #expect(report.total.modelCalls == 2)
        #expect(report.rows[0].costUsd == nil, "no price table, no cost")
        let none = try fixture.database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: Self.day1 + 10 * Self.hour, by: .day, prices: nil, budget: DailyBudget(), nowMs: 0)
        }
        #expect(none.rows.isEmpty && none.total.modelCalls == 0)
    }

    @Test func todaysSpendIsWhatTheLedgerCounts() throws {
        let fixture = try usageDatabase()
        let ledger = SpendLedger(database: fixture.database)
        let claim = SpendLedger.Claim(runID: "r", conversationID: "c", model: "gpt-fake", tokens: 5_000, cost: nil)
        guard
            case .reserved(let settled) = try ledger.reserve(
                claim, day: "2026-12-05", tokenLimit: nil, costLimit: nil, now: 1)
        else { throw AutonousError(.database, "not reserved") }
        try ledger.settle(
            id: settled, inputTokens: 1_000, cachedTokens: 0, outputTokens: 200,
            cost: Dollars(microdollars: 2_500), now: 2)
        _ = try ledger.reserve(claim, day: "2026-12-05", tokenLimit: nil, costLimit: nil, now: 3)
        _ = try ledger.reserve(claim, day: "2026-12-04", tokenLimit: nil, costLimit: nil, now: 3)
        let report = try fixture.database.pool.read { db in
            try UsageReport.make(
                db, sinceMs: 0, by: .day, prices: nil,
                budget: DailyBudget(tokens: 10_000, cost: Dollars(microdollars: 1_000_000)),
                nowMs: Self.day1 + Self.hour)
        }
        #expect(report.today.tokens == 6_200, "the settled call's usage and the open one's worst case")
        #expect(report.today.openReservations == 1)
        #expect(report.today.costUsd == 0.0025)
        #expect(report.today.costBudgetUsd == 1)
    }

    /// An event row as `RunLog.trace` reads it: payload fields as columns.
    private func event(
        _ id: Int64, _ parent: Int64?, _ type: String, _ fields: [String: any DatabaseValueConvertible] = [:]
    ) -> Row {
        var columns: [String: (any DatabaseValueConvertible)?] = [
            "id": id, "ts_ms": id, "parent_id": parent, "type": type,
        ]
        for (name, value) in fields { columns[name] = value }
        return Row(columns)
    }
}

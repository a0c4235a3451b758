import AutonousCore
import Foundation
import Testing

@testable import autonousctl

/// `autonousctl runs`, `trace RUN` and `usage` as text and JSON, from fixed runs and a fixed now.
@Suite struct RunRenderingTests {
    /// 2026-12-05 12:00:00 UTC.
    static let nowMs: Int64 = 1_796_472_000_000

    static func run(
        _ id: String, startedMs: Int64, endedMs: Int64?, status: RunRecord.Status, stopReason: String?
    ) -> RunRecord {
        var run = RunRecord(
            id: id, conversationID: "telegram:111", inboxID: 7, commander: "telegram", requestedBy: "111",
            startedMs: startedMs)
        run.status = status
        run.stopReason = stopReason
        run.endedMs = endedMs
        run.provider = "openai"
        run.model = "gpt-fake"
        run.turns = 2
        run.modelCalls = 2
        run.toolCalls = 2
        run.inputTokens = 1_250
        run.outputTokens = 50
        run.cachedTokens = 10
        run.reasoningTokens = 5
        run.costUSD = 0.0123
        return run
    }

    static let answered = run(
        "3f1c9a2e-0000-4000-8000-000000000001", startedMs: nowMs - 60_000, endedMs: nowMs - 58_800,
        status: .answered, stopReason: "answered")

    static let trace = RunTrace(
        run: answered,
        turns: [
            RunTrace.Turn(
                turn: 1, outcome: "completed", startedMs: nowMs - 60_000, endedMs: nowMs - 59_100,
                modelCall: RunTrace.ModelCall(
                    provider: "openai", model: "gpt-fake", status: "ok", latencyMs: 880, timeToFirstTokenMs: 120,
                    retries: 1, streamed: true, inputTokens: 500, outputTokens: 20, cachedTokens: 10,
                    reasoningTokens: 5, finishReason: "tool_calls"),
                toolCalls: [
                    RunTrace.ToolCall(
                        callId: "call_a", tool: "read", tier: "read", outcome: "ok", startedMs: nowMs - 59_100,
                        durationMs: 3),
                    RunTrace.ToolCall(
                        callId: "call_b", tool: "bash", tier: "network", outcome: "failed", startedMs: nowMs - 59_100,
                        durationMs: 1_500, error: "exit status 1",
                        approvals: [
                            RunTrace.Approval(
                                id: "abcd2345", status: "approved", requestedMs: nowMs - 59_100,
                                decidedMs: nowMs - 55_000, decidedBy: "alice", decidedVia: "telegram")
                        ]),
                ]),
            RunTrace.Turn(
                turn: 2, outcome: "completed", startedMs: nowMs - 59_100, endedMs: nowMs - 58_800,
                modelCall: RunTrace.ModelCall(
                    provider: "openai", model: "gpt-fake", status: "ok", latencyMs: 300, inputTokens: 750,
                    outputTokens: 30, cachedTokens: 0, reasoningTokens: 0, finishReason: "stop")),
        ])

    @Test func aTraceIsAHeaderLineAndATreeOfTurnsCallsToolsAndApprovals() {
        #expect(
            TraceCommand.render(Self.trace, nowMs: Self.nowMs) == """
                run 3f1c9a2e-0000-4000-8000-000000000001  conversation telegram:111  answered  2 turns  \
                tokens in 1,250 out 50 cached 10 reasoning 5  cost $0.0123  took 1.2s  openai/gpt-fake
                ├─ turn 1  completed  900ms
                │  ├─ model ok  880ms  first token 120ms  1 retry  streamed  tokens in 500 out 20 cached 10 \
                reasoning 5  finish tool_calls
                │  ├─ tool read [read]  ok  3ms
                │  └─ tool bash [network]  failed  1.5s  exit status 1
                │     └─ approval abcd2345  approved by alice via telegram  after 4.1s
                └─ turn 2  completed  300ms
                   └─ model ok  300ms  tokens in 750 out 30 cached 0 reasoning 0  finish stop
                """)
    }

    @Test func aFailedCallAndARefusedTurnSayWhy() {
        var run = Self.run("r2", startedMs: Self.nowMs - 5_000, endedMs: nil, status: .running, stopReason: nil)
        run.costUSD = nil
        let trace = RunTrace(
            run: run,
            turns: [
                RunTrace.Turn(
                    turn: 1, outcome: "failed", startedMs: Self.nowMs - 5_000, endedMs: Self.nowMs - 4_000,
                    modelCall: RunTrace.ModelCall(
                        provider: "openai", model: "gpt-fake", status: "failed", httpStatus: 401, latencyMs: 20,
                        errorClass: "fatal", error: "the API key was refused")),
                RunTrace.Turn(
                    turn: 2, outcome: "refused", stopReason: "daily_budget", startedMs: Self.nowMs - 3_000,
                    endedMs: Self.nowMs - 3_000),
            ])
        let lines = TraceCommand.render(trace, nowMs: Self.nowMs).split(separator: "\n").map(String.init)
        #expect(lines[0].contains("  running  ") && lines[0].contains("cost -  running for 5.0s"))
        #expect(
            lines[2] == "│  └─ model failed  20ms  tokens in ? out ? cached ? reasoning ?  fatal, HTTP 401: "
                + "the API key was refused")
        #expect(lines[3] == "└─ turn 2  refused (daily_budget)  0ms")
    }

    @Test func theTraceJSONIsTheTreeWithTheRunAndItsTurns() throws {
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(prettyJSON(Self.trace).utf8))
        #expect(json["run"]?["id"] == .string("3f1c9a2e-0000-4000-8000-000000000001"))
        #expect(json["run"]?["conversationId"] == .string("telegram:111"))
        #expect(json["run"]?["status"] == .string("answered"))
        #expect(json["run"]?["costUsd"] == .double(0.0123))
        #expect(json["turns"]?[0]?["modelCall"]?["timeToFirstTokenMs"] == .int(120))
        #expect(json["turns"]?[0]?["toolCalls"]?[1]?["approvals"]?[0]?["decidedBy"] == .string("alice"))
        let decoded = try JSONDecoder().decode(RunTrace.self, from: Data(prettyJSON(Self.trace).utf8))
        #expect(decoded == Self.trace)
    }

    @Test func runsAreATableNewestFirst() {
        let stopped = Self.run(
            "0b7d0c1e-0000-4000-8000-000000000002", startedMs: Self.nowMs - 3_600_000,
            endedMs: Self.nowMs - 3_000_000, status: .stopped, stopReason: "no_progress")
        var running = Self.run(
            "9c2f4a10-0000-4000-8000-000000000003", startedMs: Self.nowMs - 2_000, endedMs: nil, status: .running,
            stopReason: nil)
        running.costUSD = nil
        let text = RunsCommand.render(
            [stopped, Self.answered, running], nowMs: Self.nowMs, timeZone: TimeZone(identifier: "UTC") ?? .current)
        #expect(
            text == """
                ID                                    STARTED              CONVERSATION  STATUS               TURNS  \
                TOKENS IN/OUT  COST     DURATION
                9c2f4a10-0000-4000-8000-000000000003  2026-12-05 11:59:58  telegram:111  running              2      \
                1,250/50       -        2.0s (running)
                3f1c9a2e-0000-4000-8000-000000000001  2026-12-05 11:59:00  telegram:111  answered             2      \
                1,250/50       $0.0123  1.2s
                0b7d0c1e-0000-4000-8000-000000000002  2026-12-05 11:00:00  telegram:111  stopped/no_progress  2      \
                1,250/50       $0.0123  10m0s
                """)
        #expect(RunsCommand.render([], nowMs: Self.nowMs) == "no runs")
    }

    static let today = UsageReport.Today(
        day: "2026-12-05", tokens: 13_813, costUsd: 0.0123, openReservations: 1, tokenBudget: 2_000_000,
        costBudgetUsd: nil)

    static let usage = UsageReport(
        by: .day, sinceMs: nowMs - 7 * 86_400_000,
        rows: [
            UsageReport.Row(
                key: "2026-12-03", modelCalls: 4, inputTokens: 3_000, outputTokens: 1_000, costUsd: 0.004),
            UsageReport.Row(
                key: "2026-12-04", modelCalls: 12, failedCalls: 1, inputTokens: 7_000, outputTokens: 1_000,
                cachedTokens: 2_500, costUsd: 0.0083),
            UsageReport.Row(key: "2026-12-05", modelCalls: 1, inputTokens: 90, outputTokens: 10, costUsd: 0.0001),
        ],
        today: today)

    @Test func usageIsATableWithBarsScaledToTheWidestRowWithinEightyColumns() {
        let text = UsageCommand.render(Self.usage)
        #expect(
            text == """
                DAY         CALLS  INPUT  OUTPUT  CACHED  COST
                2026-12-03  4      3.0k   1.0k    0       $0.0040  ██████████████▌
                2026-12-04  12     7.0k   1.0k    2.5k    $0.0083  █████████████████████████████
                2026-12-05  1      90     10      0       $0.0001  ▍
                total       17     10.1k  2.0k    2.5k    $0.0124

                today 2026-12-05 (UTC): 13,813 of 2,000,000 tokens (0.7%), $0.0123
                  with 1 call(s) in flight counted at their worst case
                """)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= UsageCommand.width })
        #expect(lines[2].count == UsageCommand.width, "the widest row fills the line")
    }

    @Test func barsCountEighthsAndNeverHideANonZeroRow() {
        #expect(UsageCommand.bar(8, of: 8, width: 2) == "██")
        #expect(UsageCommand.bar(1, of: 2, width: 3) == "█▌")
        #expect(UsageCommand.bar(1, of: 1_000_000, width: 10) == "▏")
        #expect(UsageCommand.bar(0, of: 10, width: 10).isEmpty)
    }

    @Test func todaysLineNamesAnUnlimitedOrZeroBudgetAndACostCap() {
        var today = Self.today
        today.openReservations = 0
        today.tokenBudget = nil
        #expect(UsageCommand.today(today) == "today 2026-12-05 (UTC): 13,813 tokens (daily budget: unlimited), $0.0123")
        today.tokenBudget = 0
        today.costBudgetUsd = 5
        #expect(
            UsageCommand.today(today)
                == "today 2026-12-05 (UTC): 13,813 of 0 tokens (daily budget 0: no model call is allowed), "
                + "$0.0123 of $5.00")
    }

    @Test func usageByModelAndWithoutCallsSaysSo() throws {
        let empty = UsageReport(by: .model, sinceMs: 0, rows: [], today: Self.today)
        #expect(UsageCommand.render(empty).hasPrefix("no model calls since then\n\ntoday 2026-12-05"))
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(prettyJSON(Self.usage).utf8))
        #expect(json["by"] == .string("day"))
        #expect(json["rows"]?[1]?["key"] == .string("2026-12-04"))
        #expect(json["total"]?["modelCalls"] == .int(17))
        #expect(json["today"]?["tokenBudget"] == .int(2_000_000))
    }

    @Test func statusNamesTheProviderAndTheLastFatalModelError() {
        let model = ControlInterface.ModelStatus(
            configured: true, model: "gpt-fake", baseURL: "http://127.0.0.1:1/v1", hint: nil, provider: "openai",
            lastFatalError: "HTTP 401: the API key was refused", lastFatalErrorMs: Self.nowMs - 90_000)
        let rows = StatusCommand.modelRows(model, nowMs: Self.nowMs)
        #expect(rows.map(\.0) == ["model", "model error"])
        #expect(rows[0].1 == "gpt-fake at http://127.0.0.1:1/v1 (provider openai)")
        #expect(rows[1].1 == "last call failed fatally (1m30s ago): HTTP 401: the API key was refused")
    }
}

extension JSONValue {
    /// The item at `index` of an array.
    fileprivate subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }
}

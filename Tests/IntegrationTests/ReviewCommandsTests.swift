import AutonousCore
import Foundation
import Testing

/// `autonousctl runs`, `trace RUN`, `usage` and `status` against a real daemon, after a real run with a tool call
/// through the fakes: what they show adds up to what the fake model reported.
@Suite("Review commands", .serialized, .timeLimit(.minutes(3)))
struct ReviewCommandsTests {
    private func json(_ result: (status: Int32, stdout: String, stderr: String)) throws -> JSONValue {
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8))
    }

    private func items(_ value: JSONValue?) -> [JSONValue] {
        guard case .array(let items)? = value else { return [] }
        return items
    }

    @Test func aRunWithAToolCallIsListedTracedAndCounted() async throws {
        let fakes = try Fakes()
        // Usage as the fake model reports it, so the sums are known.
        let first = (input: 321, output: 17, cached: 64, reasoning: 5)
        let second = (input: 400, output: 23, cached: 0, reasoning: 0)
        try await fakes.scriptOpenAI([
            Fakes.toolCallAnswer(
                [("call_1", "read", ["path": .string("notes.txt")])],
                extra: [
                    "usage": .object([
                        "prompt_tokens": .int(Int64(first.input)), "completion_tokens": .int(Int64(first.output)),
                        "cached_tokens": .int(Int64(first.cached)), "reasoning_tokens": .int(Int64(first.reasoning)),
                    ])
                ]),
            .object([
                "content": .string("The notes say hello."),
                "usage": .object([
                    "prompt_tokens": .int(Int64(second.input)), "completion_tokens": .int(Int64(second.output)),
                ]),
            ]),
            // The next message meets a refused key: a fatal error only an operator can fix.
            .object(["status": .int(401), "message": .string("Incorrect API key provided")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try "hello from the workspace\n".write(
            toFile: daemon.stateDirectory + "/workspace/notes.txt", atomically: true, encoding: .utf8)
        try await fakes.sendUserMessage(from: 111, text: "what do my notes say?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await eventually { try !daemon.events("agent.completed").isEmpty })

        // runs: the one run, newest first.
        let runs = items(try json(daemon.autonousctl(["runs", "--json", "--since", "1h"]))["runs"])
        #expect(runs.count == 1)
        let runID = try #require(runs.first?["id"]?.stringValue)
        #expect(runs.first?["status"] == .string("answered"))
        #expect(runs.first?["conversationId"] == .string("telegram:111"))
        let table = try daemon.autonousctl(["runs", "--conversation", "telegram:111"])
        #expect(table.status == 0 && table.stdout.contains(runID) && table.stdout.contains("721/40"), "\(table)")

        // trace: the tree, whose model calls add up to what the fake reported and to the run's counters.
        let trace = try json(daemon.autonousctl(["trace", runID, "--json"]))
        let run = try #require(trace["run"])
        #expect(run["id"] == .string(runID))
        #expect(run["turns"] == .int(2) && run["toolCalls"] == .int(1))
        #expect(run["provider"] == .string("openai") && run["model"] == .string("gpt-fake"))
        let turns = items(trace["turns"])
        #expect(turns.compactMap { $0["turn"]?.intValue } == [1, 2])
        #expect(turns.allSatisfy { $0["outcome"] == .string("completed") })
        let calls = turns.compactMap { $0["modelCall"] }
        #expect(calls.count == 2)
        #expect(calls.allSatisfy { $0["status"] == .string("ok") && ($0["latencyMs"]?.intValue ?? -1) >= 0 })
        func sum(_ key: String) -> Int64 { calls.reduce(0) { $0 + ($1[key]?.intValue ?? 0) } }
        #expect(sum("inputTokens") == Int64(first.input + second.input))
        #expect(sum("outputTokens") == Int64(first.output + second.output))
        #expect(sum("cachedTokens") == Int64(first.cached + second.cached))
        #expect(sum("reasoningTokens") == Int64(first.reasoning + second.reasoning))
        for key in ["inputTokens", "outputTokens", "cachedTokens", "reasoningTokens"] {
            #expect(run[key]?.intValue == sum(key), "\(key)")
        }
        let tools = items(turns.first?["toolCalls"])
        #expect(tools.count == 1)
        #expect(tools.first?["tool"] == .string("read") && tools.first?["callId"] == .string("call_1"))
        #expect(tools.first?["outcome"] == .string("ok") && tools.first?["tier"] == .string("read"))
        let lastTools = items(turns.last?["toolCalls"])
        #expect(lastTools.isEmpty)

        let text = try daemon.autonousctl(["trace", runID])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("run \(runID)  conversation telegram:111  answered  2 turns") == true)
        #expect(lines.first?.contains("tokens in 721 out 40 cached 64 reasoning 5") == true, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("│  └─ tool read [read]  ok") }, "\(text.stdout)")

        // usage: the same tokens, per model and per day, and today's spend by the ledger.
        let byModel = try json(daemon.autonousctl(["usage", "--json", "--by", "model"]))
        let rows = items(byModel["rows"])
        #expect(rows.compactMap { $0["key"]?.stringValue } == ["gpt-fake"])
        #expect(rows.first?["modelCalls"] == .int(2))
        #expect(rows.first?["inputTokens"]?.intValue == sum("inputTokens"))
        #expect(rows.first?["outputTokens"]?.intValue == sum("outputTokens"))
        let byDay = try json(daemon.autonousctl(["usage", "--json", "--since", "1d"]))
        #expect(byDay["by"] == .string("day"))
        #expect(byDay["total"]?["inputTokens"]?.intValue == sum("inputTokens"))
        #expect(byDay["today"]?["tokens"]?.intValue == sum("inputTokens") + sum("outputTokens"))
        #expect(byDay["today"]?["tokenBudget"]?.intValue == Int64(DailyBudget.defaultTokens))
        let chart = try daemon.autonousctl(["usage"])
        #expect(chart.status == 0 && chart.stdout.contains("█"), "\(chart)")
        #expect(chart.stdout.contains("of 2,000,000 tokens"), "\(chart.stdout)")

        // Errors a person can act on.
        let unknown = try daemon.autonousctl(["trace", "no-such-run"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no run has the id no-such-run (autonousctl runs lists them)"), "\(unknown)")
        let badSince = try daemon.autonousctl(["usage", "--since", "yesterday"])
        #expect(badSince.status != 0 && badSince.stderr.contains("--since 'yesterday' is neither"), "\(badSince)")

        // The methods check what other varlink clients send, naming the parameter.
        let client = try VarlinkClient(path: daemon.controlSocket)
        defer { client.close() }
        let refusals: [(String, any Encodable & Sendable, String)] = [
            ("GetUsage", ControlInterface.GetUsageRequest(by: "week"), "by"),
            ("GetUsage", ControlInterface.GetUsageRequest(sinceMs: -1), "sinceMs"),
            ("ListRuns", ControlInterface.ListRunsRequest(limit: 0), "limit"),
            ("ListRuns", ControlInterface.ListRunsRequest(conversationId: ""), "conversationId"),
            ("TraceRun", ControlInterface.TraceRunRequest(id: ""), "id"),
        ]
        for (method, parameters, parameter) in refusals {
            do {
                _ = try client.call("io.autonous.Control.\(method)", parameters, as: JSONValue.self)
                Issue.record("\(method) accepted a bad \(parameter)")
            } catch let error as VarlinkError {
                #expect(error.name == "io.autonous.Control.InvalidValue", "\(method): \(error)")
                #expect(error.parameters["parameter"] == .string(parameter), "\(method): \(error)")
            }
        }
        do {
            _ = try client.call(
                "io.autonous.Control.TraceRun", ControlInterface.TraceRunRequest(id: "no-such-run"),
                as: JSONValue.self)
            Issue.record("TraceRun found a run that does not exist")
        } catch let error as VarlinkError {
            #expect(error.name == "io.autonous.Control.NoSuchRun" && error.parameters["id"] == .string("no-such-run"))
        }

        // status: the provider, and after a refused key the last fatal model error.
        let healthy = try json(daemon.autonousctl(["status", "--json"]))
        #expect(healthy["model"]?["provider"] == .string("openai"))
        #expect(healthy["model"]?["lastFatalError"] == nil)
        try await fakes.sendUserMessage(from: 111, text: "and now?")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        #expect(try await eventually { try !daemon.events("agent.failed").isEmpty })
        let failed = try json(daemon.autonousctl(["status", "--json"]))
        #expect(failed["model"]?["lastFatalError"]?.stringValue?.contains("401") == true, "\(failed)")
        let status = try daemon.autonousctl(["status"])
        #expect(status.stdout.contains("(provider openai)") && status.stdout.contains("model error"), "\(status)")
        await daemon.stop()
    }

    /// Three tools over two turns (ls and grep together, then read) and an answer: every result reaches the model
    /// under its call id, the reply is the model's, and `trace` shows each tool under the turn that called it, with
    /// tokens adding up to what the fake model reported.
    @Test func aThreeToolRunIsAnsweredAndTracedTurnByTurn() async throws {
        let fakes = try Fakes()
        func usage(_ input: Int64, _ output: Int64) -> [String: JSONValue] {
            ["usage": .object(["prompt_tokens": .int(input), "completion_tokens": .int(output)])]
        }
        try await fakes.scriptOpenAI([
            Fakes.toolCallAnswer(
                [
                    ("call_ls", "ls", ["path": .string(".")]),
                    ("call_grep", "grep", ["pattern": .string("deadline"), "path": .string(".")]),
                ], extra: usage(300, 20)),
            Fakes.toolCallAnswer([("call_read", "read", ["path": .string("plan.txt")])], extra: usage(500, 12)),
            .object(["content": .string("The deadline is Friday.")].merging(usage(700, 8)) { $1 }),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try "goal: ship\ndeadline: Friday\n".write(
            toFile: daemon.stateDirectory + "/workspace/plan.txt", atomically: true, encoding: .utf8)
        try await fakes.sendUserMessage(from: 111, text: "when is the deadline?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await fakes.sentMessages().first?["text"] == .string("The deadline is Friday."))

        // What each tool returned went back to the model, in the order it asked.
        let requests = try await fakes.openAIRequests()
        #expect(requests.count == 3)
        let last = items(requests.last?["body"]?["messages"]).filter { $0["role"] == .string("tool") }
        #expect(last.compactMap { $0["tool_call_id"]?.stringValue } == ["call_ls", "call_grep", "call_read"])
        let results = last.map { message in
            (try? JSONDecoder().decode(JSONValue.self, from: Data((message["content"]?.stringValue ?? "").utf8)))
                ?? .null
        }
        #expect(results.allSatisfy { $0["ok"] == .bool(true) }, "\(results)")
        #expect(results[0]["stdout"]?.stringValue?.contains("plan.txt") == true, "\(results[0])")
        #expect(results[1]["stdout"]?.stringValue?.contains("plan.txt:2:deadline: Friday") == true, "\(results[1])")
        #expect(results[2]["stdout"] == .string("1\tgoal: ship\n2\tdeadline: Friday\n"), "\(results[2])")

        let runID = try #require(
            items(try json(daemon.autonousctl(["runs", "--json"]))["runs"]).first?["id"]?.stringValue)
        let trace = try json(daemon.autonousctl(["trace", runID, "--json"]))
        #expect(trace["run"]?["turns"] == .int(3) && trace["run"]?["toolCalls"] == .int(3))
        let turns = items(trace["turns"])
        #expect(
            turns.map { items($0["toolCalls"]).compactMap { $0["tool"]?.stringValue } } == [
                ["ls", "grep"], ["read"], [],
            ])
        let calls = turns.compactMap { $0["modelCall"] }
        #expect(calls.reduce(0) { $0 + ($1["inputTokens"]?.intValue ?? 0) } == 1500)
        #expect(calls.reduce(0) { $0 + ($1["outputTokens"]?.intValue ?? 0) } == 40)
        #expect(trace["run"]?["inputTokens"] == .int(1500) && trace["run"]?["outputTokens"] == .int(40))
        await daemon.stop()
    }
}

import AutonousCore
import Foundation
import GRDB
import Testing

/// The control plane through the fakes: a model that repeats itself is stopped by no-progress detection, and a run
/// that would pass the daily budget is refused before any model call.
@Suite("Agent limits", .serialized) struct AgentLimitsTests {
    @Test func aModelThatRepeatsTheSameToolCallIsStopped() async throws {
        let fakes = try Fakes()
        let same: JSONValue = .object([
            "tool_calls": .array([
                .object([
                    "id": .string("call_same"), "name": .string("read"),
                    "arguments": .object(["path": .string("notes.txt")]),
                ])
            ])
        ])
        try await fakes.scriptOpenAI([same, same, same, same, .object(["content": .string("never asked for")])])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try "the same every time\n".write(
            toFile: daemon.stateDirectory + "/workspace/notes.txt", atomically: true, encoding: .utf8)

        try await fakes.sendUserMessage(from: 111, text: "read it until you are sure")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(
            try await fakes.sentMessages().first?["text"]?.stringValue
                == "I stopped because I repeated the same tool calls with the same results 3 times in a row without "
                + "getting further.")
        #expect(try await fakes.openAIRequests().count == 3, "stopped after the third identical iteration")
        let stalled = try daemon.events("progress.stalled")
        #expect(stalled.count == 1)
        #expect(stalled.first?.payload["turn"] == .int(3))
        #expect(try daemon.events("agent.stopped").first?.payload["stop_reason"] == .string("no_progress"))
        let run = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(db, sql: "SELECT status, stop_reason, turns, tool_calls FROM runs")
            })
        #expect(run["status"] as String? == "stopped")
        #expect(run["stop_reason"] as String? == "no_progress")
        #expect(run["turns"] as Int? == 3)
        #expect(run["tool_calls"] as Int? == 3)
        await daemon.stop()
    }

    @Test func aRunThatWouldPassTheDailyBudgetIsRefusedBeforeTheCall() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([.object(["content": .string("never asked for")])])
        // The worst case of one call is the prompt's estimate plus the 4096-token completion limit.
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_DAILY_TOKEN_BUDGET": "3000"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "hello")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(
            try await fakes.sentMessages().first?["text"]?.stringValue
                == "I stopped because this would pass today's token budget (3,000 tokens for all conversations); "
                + "it resets at 00:00 UTC.")
        #expect(try await fakes.openAIRequests().isEmpty, "refused before the call")
        #expect(try daemon.events("model.call.refused").first?.payload["stop_reason"] == .string("daily_budget"))
        let run = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(db, sql: "SELECT status, stop_reason, model_calls FROM runs")
            })
        #expect(run["status"] as String? == "stopped")
        #expect(run["stop_reason"] as String? == "daily_budget")
        #expect(run["model_calls"] as Int? == 0)
        await daemon.stop()
    }

    @Test func aRunRecordsWhatItCostByThePriceTable() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([.object(["content": .string("priced")])])
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_PRICE_TABLE": "prices.json"]) { state in
            let etc = (state as NSString).deletingLastPathComponent + "/etc"
            try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
            // A dollar per input token and half a dollar per output token, so the sum is easy to check.
            try #"{"gpt-fake": {"input": 1000000, "output": 500000}}"#.write(
                toFile: etc + "/prices.json", atomically: true, encoding: .utf8)
        }
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "what does this cost?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let row = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(db, sql: "SELECT input_tokens, output_tokens, cost_usd FROM runs")
            })
        let input: Int = row["input_tokens"]
        let output: Int = row["output_tokens"]
        #expect(input > 0 && output > 0, "the fake reports usage")
        #expect(row["cost_usd"] as Double? == Double(input) + Double(output) / 2)
        await daemon.stop()
    }
}

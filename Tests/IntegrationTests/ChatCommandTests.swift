import AutonousCore
import Foundation
import GRDB
import Testing

/// The chat commands through the fakes: /cancel stops a running run from outside its chat's lane (the tool it
/// runs is killed and the reason recorded), /new starts a conversation whose requests no longer carry the old
/// history, /status answers admins only.
@Suite("Chat commands", .serialized) struct ChatCommandTests {
    @Test func cancelStopsARunInTheMiddleOfALongBashCall() async throws {
        let fakes = try Fakes()
        let marker = "autonous-cancel-\(UInt32.random(in: 1_000_000 ... 9_999_999))"
        try await fakes.scriptOpenAI([
            .object([
                "tool_calls": .array([
                    .object([
                        "id": .string("call_sleep"), "name": .string("bash"),
                        "arguments": .object([
                            "command": .string("sleep 30 # \(marker)"), "timeout_seconds": .int(60),
                        ]),
                    ])
                ])
            ]),
            .object(["content": .string("this answer must never be asked for")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "sleep a while")
        let started = await poll(timeout: 30) { (try? daemon.events("tool_call.started"))?.isEmpty == false }
        #expect(started, "\(daemon.log)")
        #expect(await poll(timeout: 10) { Self.processes(containing: marker) > 0 }, "the bash call is running")
        // "typing…" is shown again while the tool runs (Telegram shows it for about five seconds).
        let typing = await poll(timeout: 20) {
            ((try? await fakes.telegramRequests("sendChatAction")) ?? []).count >= 2
        }
        #expect(typing, "\(daemon.log)")

        let sentAt = ContinuousClock.now
        try await fakes.sendUserMessage(from: 111, text: "/cancel")
        #expect(try await fakes.waitForSent(1, timeout: 20), "\(daemon.log)")
        let took = ContinuousClock.now - sentAt
        let sent = try await fakes.sentMessages()
        #expect(
            sent.first?["text"]?.stringValue
                == "Stopped: you sent /cancel. Your message and what was done so far are kept.")
        // Far less than the 30 s the command would take: it was stopped, not waited out.
        #expect(took < .seconds(15), "the reply came \(took) after /cancel")
        #expect(await poll(timeout: 10) { Self.processes(containing: marker) == 0 }, "the bash call was killed")

        let run = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(db, sql: "SELECT status, stop_reason, tool_calls FROM runs")
            })
        #expect(run["status"] as String? == "cancelled")
        #expect(run["stop_reason"] as String? == "cancelled")
        #expect(try daemon.events("agent.stopped").first?.payload["by"] == .string("telegram:111"))
        #expect(try daemon.events("run.cancel_requested").count == 1)
        #expect(try await fakes.openAIRequests().count == 1, "no model call after the stop")

        // With nothing running, /cancel says so.
        try await fakes.sendUserMessage(from: 111, text: "/cancel@autonous_bot")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        #expect(try await fakes.sentMessages().last?["text"]?.stringValue == "Nothing is running in this chat.")
        await daemon.stop()
    }

    @Test func newStartsAConversationWithoutTheOldHistory() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object(["content": .string("first answer")]), .object(["content": .string("second answer")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "remember blue")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "/new")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        #expect(
            try await fakes.sentMessages().last?["text"]?.stringValue
                == "Started a new conversation: what we said before is kept, but no longer sent to the model.")
        try await fakes.sendUserMessage(from: 111, text: "what colour?")
        #expect(try await fakes.waitForSent(3), "\(daemon.log)")

        let requests = try await fakes.openAIRequests()
        #expect(requests.count == 2)
        guard case .array(let messages)? = requests.last?["body"]?["messages"] else {
            Issue.record("no messages in the second request")
            return
        }
        #expect(messages.map { $0["role"]?.stringValue ?? "" } == ["system", "user"])
        #expect(messages.last?["content"] == .string("what colour?"))
        let conversations = try await daemon.database().pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT conversation_id FROM runs ORDER BY started_ms")
        }
        #expect(conversations.count == 2)
        #expect(conversations.first == "telegram:111")
        #expect(conversations.last?.hasPrefix("telegram:111:") == true)
        await daemon.stop()
    }

    @Test func statusAnswersAdminsOnly() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 222, text: "/status")
        try await fakes.sendUserMessage(from: 111, text: "/status")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let text = try #require(try await fakes.sentMessages().first?["text"]?.stringValue)
        #expect(text.hasPrefix("autonous worker, revision "))
        #expect(text.contains("model: openai gpt-fake"))
        #expect(text.contains("runs now: 0"))
        // Today's spend from the ledger the budget is checked against, beside the default budget.
        #expect(text.contains("today (UTC): 0 model calls, 0 tokens of 2000000 (0%)"), "\(text)")
        #expect(try await fakes.sentMessages().count == 1, "the non-admin got nothing")
        #expect(
            try daemon.events("telegram.update.ignored").contains {
                $0.payload["reason"] == .string("/status is for AUTONOUS_TELEGRAM_ADMINS")
            })
        await daemon.stop()
    }

    /// How many processes' command lines contain `text`.
    static func processes(containing text: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.count { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }
}

/// Calls `check` every 100 ms until it is true or `timeout` seconds passed.
private func poll(timeout: Double, _ check: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(timeout)
    while ContinuousClock.now < deadline {
        if await check() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await check()
}

import AutonousCore
import Foundation
import GRDB
import Testing

/// The answer grows in Telegram while the model writes it: as a draft in a private chat (sendMessageDraft, with a
/// Stop button that cancels the run), as one message edited at most once a second in a group, and each time the
/// complete answer arrives as one final message.
@Suite("Streaming answers", .serialized) struct StreamingAnswerTests {
    static let answer = "The **answer** grows piece by piece, and every piece reaches the chat before the end."
    static let visible = "The answer grows piece by piece, and every piece reaches the chat before the end."

    @Test func aPrivateChatSeesADraftGrowInThreeStepsOrMoreThenOneMessage() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object([
                "content": .string(Self.answer), "stream_pieces": .int(6), "chunk_delay": .double(0.5),
            ])
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "tell me something")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let drafts = try await fakes.telegramList("drafts")
        let texts = drafts.compactMap { $0["text"]?.stringValue }
        #expect(texts.count >= 3, "drafts: \(texts)")
        // Each draft shows more of the answer than the one before, and none is the whole answer yet.
        for (earlier, later) in zip(texts, texts.dropFirst()) {
            #expect(later.count > earlier.count && Self.visible.hasPrefix(earlier), "\(texts)")
        }
        #expect(texts.last.map { Self.visible.hasPrefix($0) } == true)
        #expect(Set(drafts.compactMap { $0["draft_id"]?.intValue }).count == 1, "one draft, updated")
        #expect(drafts.allSatisfy { $0["can_stop"] == .bool(true) && $0["chat_id"] == .int(111) })
        // Markdown already shows as formatting while it streams.
        #expect(drafts.last?["entities"]?.arrayValue?.first?["type"] == .string("bold"), "\(drafts)")

        let sent = try await fakes.sentMessages()
        #expect(sent.count == 1)
        #expect(sent.first?["text"]?.stringValue == Self.visible)
        #expect(sent.first?["entities"]?.arrayValue?.first?["type"] == .string("bold"))
        // The final message comes after every draft.
        let lastDraft = try #require(drafts.last?["ts"]?.doubleValue)
        let sendRequests = try await fakes.telegramRequests("sendMessage")
        #expect(sendRequests.allSatisfy { ($0["ts"]?.doubleValue ?? 0) >= lastDraft })

        let streamed = try #require(try daemon.events("telegram.answer.streamed").first, "\(daemon.log)")
        #expect(streamed.payload["mode"] == .string("draft"))
        #expect((streamed.payload["previews"]?.intValue ?? 0) == Int64(texts.count))
        #expect(streamed.payload["first_preview_ms"]?.intValue != nil)
        await daemon.stop()
    }

    @Test func aGroupSeesOneMessageEditedAtMostOnceASecondThenTheAnswer() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object([
                "content": .string(Self.answer), "stream_pieces": .int(4), "chunk_delay": .double(1.2),
            ])
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        let question = try await fakes.sendUserMessage(from: 111, chat: -5001, text: "tell the group")
        #expect(try await fakes.waitForModelRequests(1), "\(daemon.log)")
        // Delivered: the answer's one chunk is recorded as sent, in the message that showed it growing.
        let delivered = await eventually {
            let rows = try? await daemon.database().pool.read { db in
                try Row.fetchAll(db, sql: "SELECT status, telegram_message_id FROM outbox")
            }
            return rows?.map { $0["status"] as String? } == ["sent"]
        }
        #expect(delivered, "\(daemon.log)")

        // One message, a reply to the question, whose text grew and then became the whole answer.
        let sent = try await fakes.sentMessages()
        #expect(sent.count == 1, "\(sent)")
        let preview = try #require(sent.first)
        #expect(preview["reply_to_message"]?["message_id"] == question["message"]?["message_id"])
        let messageID = try #require(preview["message_id"]?.intValue)
        let edits = try await fakes.telegramRequests("editMessageText")
        #expect(edits.count >= 3, "the message grew in steps: \(edits)")
        #expect(edits.allSatisfy { $0["params"]?["message_id"]?.intValue == messageID })
        let stamps = edits.compactMap { $0["ts"]?.doubleValue }
        for (earlier, later) in zip(stamps, stamps.dropFirst()) {
            #expect(later - earlier >= 0.9, "edits \(stamps) come faster than one a second")
        }
        let final = try #require(try await fakes.telegramList("edited").last)
        #expect(final["message_id"]?.intValue == messageID)
        #expect(final["text"]?.stringValue == Self.visible)
        #expect(try await fakes.telegramRequests("sendMessageDraft").isEmpty, "no drafts outside private chats")

        let outbox = try await daemon.database().pool.read { db in
            try Row.fetchAll(db, sql: "SELECT status, telegram_message_id FROM outbox")
        }
        #expect(outbox.map { $0["status"] as String? } == ["sent"])
        #expect(outbox.first?["telegram_message_id"] as Int64? == messageID)
        await daemon.stop()
    }

    /// A Bot API server without drafts (older than 9.3) answers 404: the answer is shown by edits instead, and
    /// later answers go straight to edits.
    @Test func withoutDraftsTheAnswerGrowsByEditsInstead() async throws {
        let fakes = try Fakes()
        try await fakes.scriptTelegram(
            "sendMessageDraft", [.object(["status": .int(404), "description": .string("Not Found")])])
        let slow: JSONValue = .object([
            "content": .string(Self.answer), "stream_pieces": .int(3), "chunk_delay": .double(1.2),
        ])
        try await fakes.scriptOpenAI([slow, slow])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        for (round, text) in ["first", "second"].enumerated() {
            try await fakes.sendUserMessage(from: 111, text: text)
            let answered = await eventually {
                (try? daemon.events("telegram.answer.streamed").count) == round + 1
            }
            #expect(answered, "\(daemon.log)")
        }
        #expect(try await fakes.telegramRequests("sendMessageDraft").count == 1, "drafts are not tried again")
        let streamed = try daemon.events("telegram.answer.streamed")
        #expect(streamed.map { $0.payload["mode"] } == [.string("edit"), .string("edit")])
        #expect(streamed.first?.payload["note"]?.stringValue?.contains("drafts refused") == true)
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(try await fakes.telegramList("edited").count >= 2)
        #expect(sent.count == 2, "one message per answer: \(sent)")
        await daemon.stop()
    }

    @Test func stopOnTheDraftCancelsTheRunLikeCancel() async throws {
        let fakes = try Fakes()
        // Twelve pieces two seconds apart: the model is still writing when Stop is pressed.
        try await fakes.scriptOpenAI([
            .object([
                "content": .string(Self.answer), "stream_pieces": .int(12), "chunk_delay": .double(2),
            ])
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "write slowly")
        #expect(try await fakes.waitForTelegram("drafts", count: 1, timeout: 30), "\(daemon.log)")
        let draftID = try #require(try await fakes.telegramList("drafts").first?["draft_id"]?.intValue)
        // A Stop for another draft (an earlier answer's, say) stops nothing.
        try await fakes.request(
            port: fakes.telegramPort, "POST", "/_fake/update",
            .object([
                "stopped_message_generation": .object([
                    "chat": .object(["id": .int(111), "type": .string("private")]), "draft_id": .int(draftID + 1000),
                ])
            ]))
        let staleStop = await eventually {
            let outcomes = try? await daemon.database().pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT outcome FROM inbox WHERE kind = 'stopped_message_generation'")
            }
            return outcomes == ["stop_after_run"]
        }
        #expect(staleStop, "\(daemon.log)")
        #expect(try await fakes.sentMessages().isEmpty)
        let pressedAt = ContinuousClock.now
        try await fakes.request(
            port: fakes.telegramPort, "POST", "/_fake/stop_generation",
            .object(["chat_id": .int(111), "draft_id": .int(draftID)]))
        #expect(try await fakes.waitForSent(1, timeout: 20), "\(daemon.log)")
        let took = ContinuousClock.now - pressedAt
        #expect(took < .seconds(10), "the answer came \(took) after Stop")
        #expect(
            try await fakes.sentMessages().first?["text"]?.stringValue
                == "Stopped: you pressed Stop. Your message and what was done so far are kept.")

        let run = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(db, sql: "SELECT status, stop_reason FROM runs")
            })
        #expect(run["status"] as String? == "cancelled")
        let request = try #require(try daemon.events("run.cancel_requested").first)
        #expect(request.payload["via"] == .string("draft_stop"))
        #expect(request.payload["draft_id"]?.intValue == draftID)
        #expect(try daemon.events("agent.stopped").first?.payload["by"] == .string("telegram:111"))
        await daemon.stop()
    }
}

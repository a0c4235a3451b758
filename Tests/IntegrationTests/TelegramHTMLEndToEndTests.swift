import AutonousCore
import Foundation
import GRDB
import Testing

/// The agent's Markdown reaches Telegram as HTML, and a chunk Telegram cannot parse still reaches the user.
@Suite("Telegram HTML end to end", .serialized, .timeLimit(.minutes(5)))
struct TelegramHTMLEndToEndTests {
    @Test func markdownArrivesAsHTMLAndARefusedChunkIsResentAsPlainText() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object(["content": .string("**Done**: `a < b` is _true_")]),
            .object(["content": .string("**Again** & again")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "worker never became ready:\n\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "check")
        #expect(try await fakes.waitForSent(1), "no reply was sent:\n\(daemon.log)")
        let request = try #require(try await fakes.telegramRequests("sendMessage").last)
        #expect(request["params"]?["parse_mode"] == .string("HTML"))
        #expect(request["params"]?["text"] == .string("<b>Done</b>: <code>a &lt; b</code> is <i>true</i>"))
        let message = try #require(try await fakes.sentMessages().first)
        #expect(message["text"] == .string("Done: a < b is true"))
        guard case .array(let entities)? = message["entities"] else {
            Issue.record("the message has no entities: \(message)")
            return
        }
        #expect(entities.compactMap { $0["type"]?.stringValue } == ["bold", "code", "italic"])

        // Telegram refuses the next reply's markup once: the chunk goes again as its visible text, once.
        let refusal = "Bad Request: can't parse entities: Unsupported start tag \"foo\" at byte offset 0"
        try await fakes.scriptTelegram(
            "sendMessage", [.object(["status": .int(400), "description": .string(refusal)])])
        try await fakes.sendUserMessage(from: 111, text: "again")
        #expect(try await fakes.waitForSent(2), "the refused reply was not sent again:\n\(daemon.log)")
        let requests = try await fakes.telegramRequests("sendMessage")
        #expect(requests.count == 3)
        #expect(requests.last?["params"]?["parse_mode"] == nil)
        #expect(requests.last?["params"]?["text"] == .string("Again & again"))
        #expect(requests.last?["params"]?["reply_parameters"] != nil)
        #expect(try await fakes.sentMessages().last?["text"] == .string("Again & again"))

        // The fallback is recorded on the chunk and as an event.
        let database = try daemon.database()
        let chunks = try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT status, parse_mode, plain_fallback FROM outbox ORDER BY id")
        }
        #expect(chunks.map { $0["status"] as String } == ["sent", "sent"])
        #expect(chunks.map { $0["parse_mode"] as String? } == ["HTML", "HTML"])
        #expect((chunks.first?["plain_fallback"] as String?) == nil)
        #expect((chunks.last?["plain_fallback"] as String?)?.contains("can't parse entities") == true)
        let fallback = try daemon.events("telegram.send.plain_fallback")
        #expect(fallback.count == 1)
        #expect(fallback.first?.payload["error"]?.stringValue?.contains("Unsupported start tag") == true)
        #expect(await daemon.stop() == 0)
    }
}

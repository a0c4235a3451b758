import AutonousCore
import Foundation
import GRDB
import Testing

/// The context subsystem and the model's fatal errors through the fakes: a prompt the model refuses as too long is
/// sent once more, compressed harder; a refused key reaches the admins once.
@Suite("Context end to end", .serialized) struct ContextEndToEndTests {
    @Test func aPromptTooLongForTheModelIsSentOnceMoreCompressedHarder() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object(["content": .string("one")]),
            .object([
                "status": .int(400), "code": .string("context_length_exceeded"),
                "message": .string("This model's maximum context length is 128 tokens."),
            ]),
            .object(["content": .string("two")]),
        ])
        // Two earlier messages at most, so the harder compression keeps one.
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_CONTEXT_MESSAGES": "2"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "first")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "second")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        #expect(try await fakes.sentMessages().last?["text"]?.stringValue == "two")

        let requests = try await fakes.openAIRequests()
        #expect(requests.count == 3, "one call for the first message, two for the second")
        let counts = requests.map { request -> Int in
            guard case .array(let messages)? = request["body"]?["messages"] else { return 0 }
            return messages.count
        }
        #expect(counts == [2, 4, 3], "system and message; then with two earlier ones; then with one")
        let compressed = try daemon.events("context.compressed")
        #expect(compressed.count == 1)
        #expect(compressed.first?.payload["level"] == .string("harder"))
        #expect(compressed.first?.payload["after"]?["messages"] == .int(1))
        let levels = try await daemon.database().pool.read { db in
            try String.fetchAll(db, sql: "SELECT context_level FROM model_calls ORDER BY id")
        }
        #expect(levels == ["normal", "harder"])
        await daemon.stop()
    }

    @Test func aRefusedKeyIsToldToTheAdminsOnce() async throws {
        let fakes = try Fakes()
        let refused: JSONValue = .object([
            "status": .int(401), "code": .string("invalid_api_key"), "type": .string("invalid_request_error"),
            "message": .string("Incorrect API key provided."),
        ])
        try await fakes.scriptOpenAI([refused, refused])
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "222"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "hello")
        try await fakes.sendUserMessage(from: 111, text: "hello again")
        #expect(try await fakes.waitForSent(3), "two apologies and one notice: \(daemon.log)")
        #expect(try await !fakes.waitForSent(4, timeout: 2), "no second notice")
        let sent = try await fakes.sentMessages()
        let toAdmin = sent.filter { $0["chat"]?["id"]?.intValue == 222 }
        #expect(toAdmin.count == 1, "\(sent)")
        #expect(toAdmin.first?["text"]?.stringValue?.contains("HTTP 401 (invalid_api_key)") == true)
        let fatal = try daemon.events("model.fatal")
        #expect(fatal.count == 1)
        #expect(fatal.first?.payload["status"] == .int(401))
        #expect(fatal.first?.payload["model"] == .string("gpt-fake"))
        await daemon.stop()
    }
}

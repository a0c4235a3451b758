import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Worker

/// The naive provider (the last N messages from the database), the assembler's order, and where the system prompt
/// comes from.
@Suite struct ContextProviderTests {
    @Test func theProviderReadsTheLastMessagesOfTheConversationOldestFirst() throws {
        let store = try TemporaryWorkerDatabase(prefix: "context-provider-")
        let inbox = Inbox(database: store.database)
        _ = try inbox.store([
            NewInboxItem(updateID: 1, kind: "message", chatID: 1, userID: 1, text: "now", payload: "{}")
        ])
        let inboxID = try #require(try inbox.claimNext(runID: "run-now")).id
        try store.database.pool.write { db in
            for number in 1 ... 10 {
                try ConversationStore.append(
                    db, conversationID: "local:a", role: number % 2 == 1 ? .user : .assistant,
                    content: "a\(number)", inboxID: nil, runID: nil)
                try ConversationStore.append(
                    db, conversationID: "local:b", role: .user, content: "b\(number)", inboxID: nil, runID: nil)
            }
            try ConversationStore.append(
                db, conversationID: "local:a", role: .user, content: "now", inboxID: inboxID, runID: "run-now")
        }
        let provider = RecentMessagesProvider(database: store.database, limit: 4)
        let gathered = try provider.gather(conversationID: "local:a", excludingInbox: inboxID)
        #expect(gathered.history.map(\.content) == ["a7", "a8", "a9", "a10"])
        #expect(gathered.context.isEmpty)
        let withMessage = try provider.gather(conversationID: "local:a", excludingInbox: nil)
        #expect(withMessage.history.map(\.content) == ["a8", "a9", "a10", "now"])
        #expect(
            try RecentMessagesProvider(database: store.database, limit: 0).gather(
                conversationID: "local:a", excludingInbox: nil
            ).history.isEmpty)
    }

    @Test func theAssemblerPutsSystemHistoryContextThenTheUsersMessage() {
        let parts = PromptParts(
            system: "be brief",
            history: [
                ConversationMessage(role: .user, content: "earlier"),
                ConversationMessage(role: .assistant, content: "reply"),
            ], context: ["note one", "note two"], user: "now")
        let prompt = OrderedPromptAssembler().assemble(parts)
        #expect(prompt.map(\.component) == [.system, .history, .history, .context, .user])
        #expect(prompt.map(\.message.role) == [.system, .user, .assistant, .system, .user])
        #expect(prompt.first?.message.content == "be brief")
        #expect(prompt[3].message.content == "Context for this message:\n\nnote one\n\nnote two")
        #expect(prompt.last?.message.content == "now")
        let bare = OrderedPromptAssembler().assemble(PromptParts(system: "s", history: [], context: [], user: "u"))
        #expect(bare.map(\.component) == [.system, .user], "no context message without context")
    }

    @Test func theComponentsAreEstimatedSeparately() {
        let parts = PromptParts(
            system: String(repeating: "s", count: 40),
            history: ContextCompressorTests.toolTurn("c1", output: String(repeating: "o", count: 80)),
            context: [], user: String(repeating: "u", count: 20))
        let conversation = AgentConversation(
            prompt: OrderedPromptAssembler().assemble(parts), tools: [], gathered: GatheredContext(history: []),
            parts: parts)
        let estimate = conversation.estimate
        #expect(estimate.system == 10)
        #expect(estimate.toolOutput == 20)
        #expect(estimate.context == 0)
        #expect(estimate.history == 5 + conversation.prompt[1].message.estimatedTokens)
    }

    @Test func theSystemPromptIsAUTONOUSmdWhenPresentAndReadAtEachRun() throws {
        let directory = try TemporaryDirectory(prefix: "system-prompt-")
        let path = directory.path + "/AUTONOUS.md"
        let source = SystemPromptSource(path: path)
        #expect(source.load() == SystemPrompt(text: SystemPromptSource.builtIn, source: "built-in"))
        try "You are the operator's assistant.".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(source.load() == SystemPrompt(text: "You are the operator's assistant.", source: path))
        try "Edited.".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(source.load().text == "Edited.")
    }

    @Test func aSystemPromptTooLargeOrNotUTF8IsReportedAndTheBuiltInOneUsed() throws {
        let directory = try TemporaryDirectory(prefix: "system-prompt-")
        let path = directory.path + "/AUTONOUS.md"
        let source = SystemPromptSource(path: path)
        try Data(repeating: UInt8(ascii: "a"), count: SystemPromptSource.maxBytes).write(to: URL(fileURLWithPath: path))
        #expect(source.load().source == path, "exactly the limit is used")
        try Data(repeating: UInt8(ascii: "a"), count: SystemPromptSource.maxBytes + 1).write(
            to: URL(fileURLWithPath: path))
        let large = source.load()
        #expect(large.text == SystemPromptSource.builtIn)
        #expect(large.source == "built-in")
        #expect(
            large.problem
                == "\(path) is larger than 65536 bytes, the most a system prompt may have; the built-in prompt is used")
        try Data([0x48, 0x69, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: path))
        let binary = source.load()
        #expect(binary.text == SystemPromptSource.builtIn)
        #expect(binary.problem?.hasPrefix("\(path) is not valid UTF-8") == true)
    }

    @Test func theRunsStartEventSaysWhichSystemPromptItUsed() async throws {
        let directory = try TemporaryDirectory(prefix: "system-prompt-")
        let path = directory.path + "/AUTONOUS.md"
        let fixture = try AgentTestSupport.Fixture(systemPromptPath: path)
        _ = try await fixture.agent(script: nil).run(fixture.request("hello"))
        try Data([0xFF]).write(to: URL(fileURLWithPath: path))
        _ = try await fixture.agent(script: nil).run(fixture.request("hello again"))
        try "Operator's prompt.".write(toFile: path, atomically: true, encoding: .utf8)
        _ = try await fixture.agent(script: nil).run(fixture.request("and again"))
        let started = try fixture.events("agent.started")
        #expect(
            started.map { $0.payload["system_prompt"] } == [.string("built-in"), .string("built-in"), .string(path)])
        #expect(started.map { $0.payload["system_prompt_error"] != nil } == [false, true, false])
        #expect(started.first?.payload["context_profile"] == .string("naive"))
    }
}

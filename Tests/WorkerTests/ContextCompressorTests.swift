import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Worker

/// The naive compressor's rules, one by one, and the `context.compressed` event the pipeline writes for them.
@Suite struct ContextCompressorTests {
    let compressor = RuleCompressor()

    /// Limits that change nothing unless a test lowers one.
    static let loose = CompressionLimits(
        maxMessages: 500, messageChars: 1_000_000, toolOutputChars: 1_000_000, tokenBudget: 10_000_000)

    static func chat(_ count: Int) -> [ConversationMessage] {
        (1 ... count).map { ConversationMessage(role: $0 % 2 == 1 ? .user : .assistant, content: "message \($0)") }
    }

    /// A tool turn: the assistant's call `id` and its result `output`.
    static func toolTurn(_ id: String, output: String) -> [ConversationMessage] {
        [
            ConversationMessage(
                role: .assistant, content: nil,
                toolCalls: [StoredToolCall(id: id, name: "read", arguments: #"{"path":"a.txt"}"#)]),
            ConversationMessage(role: .tool, content: output, toolCallID: id, toolName: "read"),
        ]
    }

    @Test func theMessageCapKeepsTheNewestMessages() {
        var limits = Self.loose
        limits.maxMessages = 5
        let result = compressor.compress(Self.chat(30), reserved: 0, limits: limits)
        #expect(result.messages.map(\.content) == (26 ... 30).map { "message \($0)" })
        #expect(result.dropped == 25)
        #expect(result.changed)
    }

    @Test func theCharacterCapCutsALongMessageAndSaysHowMuch() {
        var limits = Self.loose
        limits.messageChars = 200
        let long = ConversationMessage(role: .user, content: String(repeating: "é", count: 500))
        let result = compressor.compress([long], reserved: 0, limits: limits)
        #expect(
            result.messages.first?.content
                == String(repeating: "é", count: 200) + "\n[… 300 more characters cut]")
        #expect(result.truncated == 1)
        #expect(result.before.chars == 500)
        #expect(result.after.chars < 500)
    }

    @Test func toolOutputIsTruncatedToItsOwnCapWithAMarker() {
        var limits = Self.loose
        limits.toolOutputChars = 100
        let result = compressor.compress(
            Self.toolTurn("c1", output: String(repeating: "x", count: 5000)), reserved: 0, limits: limits)
        #expect(
            result.messages.last?.content
                == String(repeating: "x", count: 100) + "\n[… 4900 more characters of tool output cut]")
        #expect(result.toolOutputsTruncated == 1)
        #expect(result.truncated == 0)
        #expect(ConversationStore.wellFormed(result.messages) == result.messages)
    }

    @Test func toolOutputIsSkippedWhenItsCapIsZero() {
        var limits = Self.loose
        limits.toolOutputChars = 0
        let result = compressor.compress(Self.toolTurn("c1", output: "secret listing"), reserved: 0, limits: limits)
        #expect(result.messages.count == 2, "the result stays, so its call stays answered")
        #expect(result.messages.last?.content == "[tool output of 14 characters skipped]")
        #expect(result.messages.last?.toolCallID == "c1")
        #expect(result.toolOutputsSkipped == 1)
    }

    @Test func theTokenBudgetDropsTheOldestMessagesAndCountsWhatTheOtherPartsTake() {
        // Each message is 400 characters, 100 estimated tokens.
        let history = (1 ... 10).map {
            ConversationMessage(
                role: $0 % 2 == 1 ? .user : .assistant, content: String(repeating: "\($0 % 10)", count: 400))
        }
        var limits = Self.loose
        limits.tokenBudget = 1000
        let alone = compressor.compress(history, reserved: 0, limits: limits)
        #expect(alone.messages == history, "ten messages of 100 tokens fit 1000")
        #expect(!alone.changed)
        let shared = compressor.compress(history, reserved: 350, limits: limits)
        #expect(shared.messages == Array(history.suffix(6)), "650 tokens are left for history")
        #expect(shared.after.tokens == 600)
        #expect(shared.before == ContextSizes(messages: 10, chars: 4000, tokens: 1000))
        let nothing = compressor.compress(history, reserved: 2000, limits: limits)
        #expect(nothing.messages.isEmpty)
    }

    @Test func aToolTurnIsDroppedWholeAndNeverLeftHalf() {
        let history =
            Self.toolTurn("c1", output: String(repeating: "a", count: 800)) + Self.chat(2)
            + Self.toolTurn("c2", output: "short")
        // Keeping the newest 5 of 6 starts the window at c1's result, whose call is cut off.
        var capped = Self.loose
        capped.maxMessages = 5
        let windowed = compressor.compress(history, reserved: 0, limits: capped)
        #expect(windowed.messages.first?.role == .user, "c1's result lost its call, so it went too")
        #expect(windowed.messages.count == 4)
        // The budget drops c1's call, and its result with it.
        var budget = Self.loose
        budget.tokenBudget = 100
        let dropped = compressor.compress(history, reserved: 0, limits: budget)
        #expect(!dropped.messages.contains { $0.toolCallID == "c1" || $0.toolCalls.contains { $0.id == "c1" } })
        #expect(dropped.messages.last?.toolCallID == "c2")
        for result in [windowed, dropped] {
            #expect(ConversationStore.wellFormed(result.messages) == result.messages)
        }
    }

    @Test func theHarderLevelHalvesTheLimitsAndSkipsToolOutput() {
        let settings = ContextSettings(messages: 20, messageChars: 8000, toolOutputChars: 2000, tokenBudget: 16000)
        #expect(
            CompressionLimits(settings, level: .harder)
                == CompressionLimits(maxMessages: 10, messageChars: 4000, toolOutputChars: 0, tokenBudget: 8000))
        #expect(
            CompressionLimits(settings, level: .normal)
                == CompressionLimits(maxMessages: 20, messageChars: 8000, toolOutputChars: 2000, tokenBudget: 16000))
    }

    @Test func theEventIsWrittenWithTheSizesBeforeAndAfterOnlyWhenSomethingChanged() throws {
        let store = try TemporaryWorkerDatabase(prefix: "context-event-")
        let events = EventLog(database: store.database)
        let pipeline = ContextPipeline.make(
            ContextSettings(messages: 4), database: store.database, systemPromptPath: "/nonexistent/AUTONOUS.md")
        let context = EventContext(parentID: nil, runID: "run-1", conversationID: "local:c")

        let small = GatheredContext(history: Self.chat(3))
        let unchanged = pipeline.conversation(system: "system", gathered: small, user: "hi", tools: [])
        #expect(unchanged.parts.history == small.history)
        #expect(unchanged.compression == nil)
        try store.database.pool.write { db in try unchanged.writeCompression(db, context: context) }
        #expect(try events.events(typePrefix: "context.").isEmpty, "nothing changed, nothing written")

        let large = GatheredContext(history: Self.chat(10))
        let changed = pipeline.conversation(system: "system", gathered: large, user: "hi", tools: [])
        #expect(changed.parts.history.count == 4)
        try store.database.pool.write { db in try changed.writeCompression(db, context: context) }
        let written = try events.events(typePrefix: "context.")
        #expect(written.map(\.type) == ["context.compressed"])
        let payload = try #require(written.first?.payload)
        #expect(payload["before"] == ContextSizes(large.history).json)
        #expect(payload["after"] == ContextSizes(changed.parts.history).json)
        #expect(payload["before"]?["messages"] == .int(10))
        #expect(payload["after"]?["messages"] == .int(4))
        #expect(payload["dropped"] == .int(6))
        #expect(payload["level"] == .string("normal"))
        #expect(payload["profile"] == .string("naive"))
        #expect(written.first?.runID == "run-1")
    }
}

import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Worker

/// A prompt the model says does not fit its context window: the turn compresses harder and tries once more.
@Suite struct ContextRetryTests {
    static let tooLong =
        #"{"error": {"status": 400, "code": "context_length_exceeded", "message": "This model's maximum context "#
        + #"length is 8192 tokens."}}"#

    /// Ten earlier messages of 6000 characters (1500 tokens each): they fit the default budget of 16000 tokens, so
    /// the run's first prompt is not compressed; the harder compression (8000 tokens, 4000 characters a message)
    /// has to cut and drop.
    static func longHistory() -> [ConversationMessage] {
        (1 ... 10).map {
            ConversationMessage(role: $0 % 2 == 1 ? .user : .assistant, content: String(repeating: "w", count: 6000))
        }
    }

    @Test func aContextLengthErrorIsAnsweredByAHarderCompressionAndOneMoreCall() async throws {
        let fixture = try AgentTestSupport.Fixture()
        try fixture.remember(Self.longHistory())
        let script = try AgentTestSupport.script([Self.tooLong, #"{"text": "short enough now"}"#])
        let agent = fixture.agent(script: script)
        let outcome = try await agent.run(fixture.request("and now?"))
        #expect(outcome.succeeded)
        #expect(outcome.reply == "short enough now")

        let compressed = try fixture.events("context.compressed")
        #expect(compressed.count == 1, "the first prompt fitted the budget, so only the retry compressed")
        let payload = try #require(compressed.first?.payload)
        #expect(payload["level"] == .string("harder"))
        #expect(payload["reason"] == .string("context_length_exceeded"))
        #expect(payload["before"]?["messages"] == .int(10))
        let after = try #require(payload["after"]?["tokens"]?.intValue)
        #expect(after < 8000, "half the budget")
        #expect(payload["truncated"]?.intValue ?? 0 > 0)

        let calls = try fixture.rows(
            "SELECT status, retries, context_level, context_profile, tokens_history FROM model_calls")
        #expect(calls.count == 1, "one turn, one model-call row")
        #expect(calls.first?["status"] as String? == "ok")
        #expect(calls.first?["retries"] as Int? == 0, "not a retry of a retryable error")
        #expect(calls.first?["context_level"] as String? == "harder")
        #expect(calls.first?["context_profile"] as String? == "naive")
        #expect((calls.first?["tokens_history"] as Int? ?? .max) < 8000)
        #expect(try fixture.events("model.call.retry").isEmpty)
    }

    @Test func aSecondContextLengthErrorEndsTheRunWithASentenceForTheUser() async throws {
        let fixture = try AgentTestSupport.Fixture()
        try fixture.remember(Self.longHistory())
        let script = try AgentTestSupport.script([Self.tooLong, Self.tooLong, #"{"text": "never asked for"}"#])
        let provider = ScriptedProvider(script: script, source: "the test script")
        let agent = fixture.agent(provider: provider)
        let outcome = try await agent.run(fixture.request("and now?"))
        #expect(!outcome.succeeded)
        #expect(
            outcome.reply
                == "I could not answer because this conversation is too long for the model, even after I shortened "
                + "it; send /new to start a new conversation, or send a shorter message.")
        #expect(provider.remainingSteps == 1, "two calls, not three")
        let run = try #require(try fixture.rows("SELECT status, stop_reason FROM runs").first)
        #expect(run["status"] as String? == "failed")
        #expect(run["stop_reason"] as String? == "context_too_long")
        let call = try #require(try fixture.rows("SELECT error_class, context_level, retries FROM model_calls").first)
        #expect(call["error_class"] as String? == "context_length_exceeded")
        #expect(call["context_level"] as String? == "harder")
        #expect(call["retries"] as Int? == 0)
    }

    @Test func aHarderCompressionThatCannotShortenThePromptIsNotSentAgain() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let script = try AgentTestSupport.script([Self.tooLong, #"{"text": "never asked for"}"#])
        let provider = ScriptedProvider(script: script, source: "the test script")
        let agent = fixture.agent(provider: provider)
        let outcome = try await agent.run(fixture.request("no history at all"))
        #expect(!outcome.succeeded)
        #expect(provider.remainingSteps == 1, "the same prompt cannot fit, so it was not sent twice")
        #expect(try fixture.rows("SELECT stop_reason FROM runs").first?["stop_reason"] as String? == "context_too_long")
    }
}

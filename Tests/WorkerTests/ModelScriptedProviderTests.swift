import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import Worker

@Suite struct ModelScriptedProviderTests {
    private let question = [ChatMessage(role: "user", content: "what is in here?")]

    private func provider(_ json: String, clock: SleepRecordingClock = SleepRecordingClock()) throws
        -> ScriptedProvider
    {
        ScriptedProvider(
            script: try ModelScript(json: Data(json.utf8)), model: "scripted", source: "demo.json", clock: clock)
    }

    @Test func stepsReplayInOrderWithPiecesToolCallsErrorsAndDelays() async throws {
        let clock = SleepRecordingClock()
        let provider = try provider(
            #"""
            {"steps": [
              {"delay": 1.5},
              {"pieces": ["Let me ", "look."], "reasoning": "ls first",
               "tool_calls": [{"name": "ls", "arguments": {"path": "."}}, {"id": "c2", "name": "read", "arguments": "{\"path\":\"a\"}"}]},
              {"error": {"status": 429, "code": "rate_limit_exceeded", "message": "slow down", "retry_after": 2}},
              {"text": "Two files.", "usage": {"input_tokens": 50, "output_tokens": 3}},
              {"error": {"kind": "timeout"}}
            ]}
            """#, clock: clock)
        #expect(provider.name == "scripted")
        #expect(provider.model == "scripted")
        let pieces = Pieces()
        let first = try await provider.complete(question, tools: [], onText: { await pieces.add($0) })
        #expect(clock.sleeps == [.milliseconds(1500)])
        #expect(await pieces.all == ["Let me ", "look."])
        #expect(first.content == "Let me look.")
        #expect(first.reasoningContent == "ls first")
        #expect(first.finishReason == "tool_calls")
        #expect(first.streamed)
        #expect(
            first.toolCalls == [
                ToolCall(id: "call_scripted_2_1", name: "ls", arguments: #"{"path":"."}"#),
                ToolCall(id: "c2", name: "read", arguments: #"{"path":"a"}"#),
            ])

        await #expect {
            try await provider.complete(question, tools: [], onText: { _ in })
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.errorClass == .rateLimited && error.retryAfter == .seconds(2) && error.httpStatus == 429
        }

        let answer = try await provider.complete(question, tools: [], onText: { await pieces.add($0) })
        #expect(answer.content == "Two files.")
        #expect(answer.inputTokens == 50 && answer.outputTokens == 3)
        #expect(answer.finishReason == "stop")
        #expect(await pieces.all.last == "Two files.")

        await #expect {
            try await provider.complete(question, tools: [], onText: { _ in })
        } throws: { error in
            (error as? ModelError)?.errorClass == .timeout
        }
        #expect(provider.remainingSteps == 0)
        await #expect {
            try await provider.complete(question, tools: [], onText: { _ in })
        } throws: { error in
            guard let error = error as? ModelError, case .misconfigured = error else { return false }
            return error.errorClass == .fatal && !error.isRetryable
                && error.description
                    == "model provider cannot answer: the model script demo.json has run out (it has 5 steps)"
        }
    }

    @Test func theClientForwardsToItsProvider() async throws {
        let client = ChatCompletionsClient(provider: try provider(#"[{"text": "hi"}]"#))
        #expect(client.name == "scripted")
        #expect(client.model == "scripted")
        #expect(try await client.complete(question).content == "hi")
    }

    @Test func theConfiguredProviderIsBuiltFromTheConfiguration() throws {
        let directory = try TemporaryDirectory(prefix: "model-script-")
        let path = directory.path + "/script.json"
        try Data(#"[{"text": "hello"}]"#.utf8).write(to: URL(fileURLWithPath: path))
        let base = ["AUTONOUS_STATE_DIR": "/tmp/s", "AUTONOUS_RUNTIME_DIR": "/tmp/r", "AUTONOUS_CONFIG_DIR": "/tmp/c"]
        let transport = HTTPTransport()
        let scripted = try Configuration(
            environment: base.merging(["AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": path]) { $1 })
        #expect(ModelProviders.make(scripted, transport: transport)?.name == "scripted")
        let unconfigured = try Configuration(environment: base)
        #expect(ModelProviders.make(unconfigured, transport: transport) == nil)
        let local = try Configuration(
            environment: base.merging([
                "AUTONOUS_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1", "AUTONOUS_MODEL_STREAM": "off",
            ]) { $1 })
        let openAI = try #require(ModelProviders.make(local, transport: transport) as? OpenAIProvider)
        #expect(openAI.name == "openai" && !openAI.stream)
        #expect(
            openAI.request([], tools: []).httpBody.map { String(decoding: $0, as: UTF8.self) }?.contains("stream")
                == false)
    }
}

/// Text pieces in the order `onText` got them.
private actor Pieces {
    var all: [String] = []
    func add(_ piece: String) { all.append(piece) }
}

/// A clock whose sleeps end at once and are recorded, so a test of a delay does not wait for it.
final class SleepRecordingClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let state = Mutex((now: Duration.zero, sleeps: [Duration]()))

    var now: Instant { Instant(offset: state.withLock { $0.now }) }
    var minimumResolution: Duration { .zero }
    /// Every sleep asked for, in order.
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        state.withLock { state in
            state.sleeps.append(deadline.offset - state.now)
            state.now = max(state.now, deadline.offset)
        }
    }
}

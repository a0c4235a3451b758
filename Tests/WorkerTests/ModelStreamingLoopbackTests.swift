import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import Worker

/// OpenAIProvider against the fake OpenAI server of Tests/Fixtures/fakes.py over real loopback HTTP.
@Suite(.serialized) struct ModelStreamingLoopbackTests {
    private let server: FakeOpenAI
    private let transport = HTTPTransport()
    private let question = [ChatMessage(role: "user", content: "tell me")]

    init() throws {
        server = try FakeOpenAI()
    }

    private func provider(stream: Bool = true, timeout: Duration = .seconds(20)) throws -> OpenAIProvider {
        OpenAIProvider(
            baseURL: try #require(URL(string: "http://127.0.0.1:\(server.port)/v1")),
            apiKey: Secret("sk-test-key"), model: "gpt-fake", timeout: timeout, transport: transport,
            stream: stream)
    }

    @Test func aStreamedAnswerArrivesInPiecesWithItsUsage() async throws {
        let text = "The quick brown fox jumps over the lazy dog"
        try await server.script([
            "content": .string(text), "reasoning_content": .string("a pangram"), "stream_pieces": .int(5),
            "chunk_delay": .double(0.02),
            "usage": .object([
                "prompt_tokens": .int(30), "completion_tokens": .int(9), "cached_tokens": .int(16),
                "reasoning_tokens": .int(4),
            ]),
        ])
        let pieces = Mutex<[String]>([])
        let completion = try await provider().complete(question, tools: []) { piece in
            pieces.withLock { $0.append(piece) }
        }
        let received = pieces.withLock { $0 }
        #expect(received.count >= 3, "\(received)")
        #expect(received.joined() == text)
        #expect(completion.content == text)
        #expect(completion.reasoningContent == "a pangram")
        #expect(completion.streamed)
        #expect(completion.finishReason == "stop")
        #expect(completion.inputTokens == 30)
        #expect(completion.outputTokens == 9)
        #expect(completion.cachedTokens == 16)
        #expect(completion.reasoningTokens == 4)
        #expect(completion.timeToFirstTokenMs != nil)
        let sent = try await server.lastRequestBody()
        #expect(sent["stream"] == .bool(true))
        #expect(sent["stream_options"]?["include_usage"] == .bool(true))
    }

    /// The first piece reaches `onText` while the server is still sending the rest (0.4 s between chunks).
    @Test func piecesArriveAsTheServerSendsThem() async throws {
        try await server.script([
            "content": .string("one two three four"), "stream_pieces": .int(4), "chunk_delay": .double(0.4),
        ])
        let start = ContinuousClock.now
        let firstPiece = Mutex<Duration?>(nil)
        _ = try await provider().complete(question, tools: []) { _ in
            firstPiece.withLock { if $0 == nil { $0 = ContinuousClock.now - start } }
        }
        let total = ContinuousClock.now - start
        let first = try #require(firstPiece.withLock { $0 })
        #expect(total - first >= .seconds(1), "first piece at \(first), done at \(total)")
    }

    /// Streaming, the timeout bounds the silence: a 3 s answer that keeps coming passes a 1.5 s timeout, a pause
    /// of 4 s fails it.
    @Test func theTimeoutBoundsSilenceNotTheWholeStream() async throws {
        try await server.script([
            "content": .string("a steady answer"), "stream_pieces": .int(5), "chunk_delay": .double(0.4),
        ])
        let steady = try await provider(timeout: .milliseconds(1500)).complete(question, tools: []) { _ in }
        #expect(steady.content == "a steady answer")
        try await server.script(["content": .string("stalls"), "stream_pieces": .int(2), "chunk_delay": .double(4)])
        let start = ContinuousClock.now
        await #expect {
            try await provider(timeout: .milliseconds(1500)).complete(question, tools: []) { _ in }
        } throws: { error in
            (error as? ModelError)?.errorClass == .timeout
        }
        #expect(ContinuousClock.now - start < .seconds(4))
    }

    @Test func streamedToolCallsAssemble() async throws {
        try await server.script([
            "tool_calls": .array([
                .object(["id": .string("call_1"), "name": .string("ls"), "arguments": .object(["path": .string(".")])]),
                .object([
                    "id": .string("call_2"), "name": .string("read"),
                    "arguments": .object(["path": .string("README.md")]),
                ]),
            ])
        ])
        let completion = try await provider().complete(question, tools: []) { _ in }
        #expect(
            completion.toolCalls == [
                ToolCall(id: "call_1", name: "ls", arguments: #"{"path":"."}"#),
                ToolCall(id: "call_2", name: "read", arguments: #"{"path":"README.md"}"#),
            ])
        #expect(completion.finishReason == "tool_calls")
    }

    @Test func anErrorMidStreamAndAnErrorStatusAreClassified() async throws {
        try await server.script([
            "content": .string("partial answer here"), "stream_error": .object(["after": .int(1)]),
        ])
        await #expect {
            try await provider().complete(question, tools: []) { _ in }
        } throws: { error in
            (error as? ModelError)?.errorClass == .server
        }
        try await server.script(["status": .int(429), "retry_after": .int(3)])
        await #expect {
            try await provider().complete(question, tools: []) { _ in }
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.errorClass == .rateLimited && error.retryAfter == .seconds(3)
        }
        try await server.script(["status": .int(404)])
        await #expect {
            try await provider().complete(question, tools: []) { _ in }
        } throws: { error in
            (error as? ModelError)?.errorClass == .fatal
        }
    }

    @Test func withoutStreamingTheTextComesOnce() async throws {
        try await server.script(["content": .string("whole"), "reasoning_content": .string("why")])
        let pieces = Mutex<[String]>([])
        let completion = try await provider(stream: false).complete(question, tools: []) { piece in
            pieces.withLock { $0.append(piece) }
        }
        #expect(pieces.withLock { $0 } == ["whole"])
        #expect(completion.reasoningContent == "why")
        #expect(!completion.streamed)
        let sent = try await server.lastRequestBody()
        #expect(sent["stream"] == nil)
    }

    @Test func cancellingTheCallEndsTheStream() async throws {
        try await server.script([
            "content": .string("slow slow slow slow"), "stream_pieces": .int(4), "chunk_delay": .double(5),
        ])
        let provider = try provider()
        let task = Task { try await provider.complete(question, tools: []) { _ in } }
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        // The stream would last 20 s. libcurl looks at a cancel about once a second, and the unit test process
        // keeps both pool threads busy at times, so the bound leaves room for that and no more.
        #expect(ContinuousClock.now - start < .seconds(10))
        guard case .failure(let error) = result else {
            Issue.record("expected a cancelled call, got \(result)")
            return
        }
        #expect((error as? ModelError)?.errorClass == .cancelled)
    }
}

/// Tests/Fixtures/fakes.py on 127.0.0.1 (its OpenAI side); ends when this object goes away.
private final class FakeOpenAI: Sendable {
    let port: Int
    private let fixture: FixtureProcess
    private let transport = HTTPTransport()

    init() throws {
        fixture = try FixtureProcess("fakes.py")
        port = try fixture.port("openai")
    }

    /// Queues one scripted response.
    func script(_ entry: [String: JSONValue]) async throws {
        var request = HTTPRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)/_fake/script")))
        request.httpMethod = "POST"
        request.httpBody = Data(JSONValue.object(["responses": .array([.object(entry)])]).jsonText.utf8)
        #expect(try await transport.send(request, timeout: .seconds(10)).status == 200)
    }

    /// The JSON body of the last chat completion request.
    func lastRequestBody() async throws -> JSONValue {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)/_fake/requests"))
        let response = try await transport.send(HTTPRequest(url: url), timeout: .seconds(10))
        guard case .array(let requests) = try JSONCoding.decoder.decode(JSONValue.self, from: response.body) else {
            return .null
        }
        return requests.last?["body"] ?? .null
    }
}

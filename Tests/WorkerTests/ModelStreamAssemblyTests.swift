import Foundation
import Testing

@testable import Worker

/// ChatStreamAssembler over chunks shaped as OpenAI sends them.
@Suite struct ModelStreamAssemblyTests {
    private func chunk(_ delta: String, finish: String? = nil) -> SSEEvent {
        let reason = finish.map { "\"\($0)\"" } ?? "null"
        return SSEEvent(
            data: #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","#
                + #""choices":[{"index":0,"delta":\#(delta),"logprobs":null,"finish_reason":\#(reason)}],"#
                + #""usage":null}"#)
    }

    private let usage = SSEEvent(
        data: #"{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":120,"#
            + #""completion_tokens":40,"total_tokens":160,"prompt_tokens_details":{"cached_tokens":64},"#
            + #""completion_tokens_details":{"reasoning_tokens":12}}}"#)
    private let done = SSEEvent(data: "[DONE]")

    @Test func textReasoningAndUsageAssemble() throws {
        var assembler = ChatStreamAssembler()
        var texts: [String] = []
        for event in [
            chunk(#"{"role":"assistant","content":"","refusal":null}"#),
            chunk(#"{"reasoning_content":"Let me "}"#), chunk(#"{"reasoning_content":"think."}"#),
            chunk(#"{"content":"Hel"}"#), chunk(#"{"content":"lo, "}"#), chunk(#"{"content":"wörld"}"#),
            chunk("{}", finish: "stop"), usage, done,
        ] {
            let delta = try assembler.take(event)
            if !delta.text.isEmpty { texts.append(delta.text) }
        }
        #expect(assembler.isDone)
        #expect(texts == ["Hel", "lo, ", "wörld"])
        let completion = try assembler.completion(httpStatus: 200)
        #expect(completion.content == "Hello, wörld")
        #expect(completion.reasoningContent == "Let me think.")
        #expect(completion.finishReason == "stop")
        #expect(completion.inputTokens == 120)
        #expect(completion.outputTokens == 40)
        #expect(completion.cachedTokens == 64)
        #expect(completion.reasoningTokens == 12)
        #expect(completion.streamed)
        #expect(completion.toolCalls.isEmpty)
    }

    @Test func toolCallArgumentsArriveInPiecesByIndex() throws {
        var assembler = ChatStreamAssembler()
        let events = [
            chunk(#"{"role":"assistant","content":null}"#),
            chunk(
                #"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"ls","arguments":""}}]}"#
            ),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]}"#),
            chunk(
                #"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"read","arguments":""}}]}"#
            ),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"th\":\".\"}"}}]}"#),
            chunk(#"{"tool_calls":[{"index":1,"function":{"arguments":"{\"path\":\"a.txt\"}"}}]}"#),
            chunk("{}", finish: "tool_calls"), usage, done,
        ]
        for event in events {
            let delta = try assembler.take(event)
            #expect(delta.text.isEmpty)
        }
        let completion = try assembler.completion(httpStatus: 200)
        #expect(
            completion.toolCalls == [
                ToolCall(id: "call_a", name: "ls", arguments: #"{"path":"."}"#),
                ToolCall(id: "call_b", name: "read", arguments: #"{"path":"a.txt"}"#),
            ])
        #expect(completion.content == "")
        #expect(completion.finishReason == "tool_calls")
    }

    @Test func anErrorObjectMidStreamIsTheServersError() throws {
        var assembler = ChatStreamAssembler()
        _ = try assembler.take(chunk(#"{"content":"partial"}"#))
        let error = SSEEvent(
            data: #"{"error":{"message":"The server had an error while processing your request. Sorry about that!","#
                + #""type":"server_error","param":null,"code":null}}"#)
        #expect {
            try assembler.take(error)
        } throws: { error in
            guard let error = error as? ModelError, case .api(500, let message, "server_error", nil) = error else {
                return false
            }
            return message.hasPrefix("The server had an error") && error.errorClass == .server && error.isRetryable
        }
        // llama.cpp's numeric code is the status; its type names a full context.
        var other = ChatStreamAssembler()
        #expect {
            try other.take(
                SSEEvent(
                    type: "error",
                    data: #"{"code":400,"message":"request (9000 tokens) exceeds the available context size "#
                        + #"(8192 tokens)","type":"exceed_context_size_error"}"#))
        } throws: { error in
            (error as? ModelError)?.errorClass == .contextLengthExceeded
        }
    }

    @Test func aStreamThatStopsEarlyOrSendsNonsenseIsMalformed() throws {
        var cut = ChatStreamAssembler()
        _ = try cut.take(chunk(#"{"content":"half an ans"}"#))
        #expect(throws: ModelError.self) { try cut.completion(httpStatus: 200) }
        #expect((try? cut.completion(httpStatus: 200)) == nil)

        var nonsense = ChatStreamAssembler()
        #expect {
            try nonsense.take(SSEEvent(data: "{not json"))
        } throws: { error in
            guard let error = error as? ModelError, case .malformed = error else { return false }
            return error.maxRetries == 1
        }

        var empty = ChatStreamAssembler()
        _ = try empty.take(done)
        #expect(throws: ModelError.self) { try empty.completion(httpStatus: 200) }

        // A finish reason without [DONE] is a complete answer (servers that end the body there).
        var finished = ChatStreamAssembler()
        _ = try finished.take(chunk(#"{"content":"ok"}"#, finish: "stop"))
        #expect(try finished.completion(httpStatus: 200).content == "ok")
    }
}

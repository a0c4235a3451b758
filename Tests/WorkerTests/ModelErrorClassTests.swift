import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import Worker

/// How the API's errors are classified, from bodies shaped as the servers send them.
@Suite struct ModelErrorClassTests {
    private func error(_ status: Int, _ body: String, headers: [String: String] = [:]) -> ModelError {
        OpenAIProvider.apiError(status: status, headers: headers, body: Data(body.utf8))
    }

    @Test func aFullContextIsRecognisedAsEachServerSaysIt() {
        let openAI = error(
            400,
            #"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages "#
                + #"resulted in 9013 tokens. Please reduce the length of the messages.","type":"invalid_request_error","#
                + #""param":"messages","code":"context_length_exceeded"}}"#)
        let llamaCpp = error(
            400,
            #"{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 "#
                + #"tokens)","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}"#)
        let vLLM = error(
            400,
            #"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you "#
                + #"requested 5000 tokens. Please reduce the length of the messages or completion.","#
                + #""type":"BadRequestError","param":null,"code":400}"#)
        let ollama = error(400, #"{"error":"the input length exceeds the context length"}"#)
        for (server, error) in [("openai", openAI), ("llama.cpp", llamaCpp), ("vllm", vLLM), ("ollama", ollama)] {
            #expect(error.errorClass == .contextLengthExceeded, "\(server): \(error)")
            #expect(!error.isRetryable)
            #expect(error.maxRetries == 0)
            #expect(error.shortReason == "the conversation is too long for the model")
        }
        #expect(vLLM.description.contains("maximum context length is 4096"))
        #expect(ModelErrorClass.contextLengthExceeded.rawValue == "context_length_exceeded")
    }

    @Test func aRefusedKeyOrUnknownModelIsFatal() {
        let key = error(
            401,
            #"{"error":{"message":"Incorrect API key provided: sk-abc***xyz.","type":"invalid_request_error","#
                + #""param":null,"code":"invalid_api_key"}}"#)
        #expect(key.errorClass == .fatal && !key.isRetryable)
        #expect(key.shortReason == "the model API refused the key")
        #expect(error(403, #"{"error":{"message":"not allowed","type":"permission_error"}}"#).errorClass == .fatal)
        let model = error(
            404,
            #"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","#
                + #""type":"invalid_request_error","param":null,"code":"model_not_found"}}"#)
        #expect(model.errorClass == .fatal)
        #expect(model.shortReason == "the model API does not know the model or the URL")
        #expect(model.description.contains("(model_not_found) [fatal]: The model `gpt-9` does not exist"))
        #expect(error(404, "<html>Not Found</html>").errorClass == .fatal)
        #expect(error(422, #"{"error":{"message":"bad tools"}}"#).errorClass == .fatal)
    }

    @Test func rateLimitsWaitAsAskedButAUsedUpQuotaIsFatal() {
        let limited = error(
            429,
            #"{"error":{"message":"Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, "#
                + #"Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            headers: ["Retry-After": "20"])
        #expect(limited.errorClass == .rateLimited && limited.isRetryable && limited.maxRetries == nil)
        #expect(limited.retryAfter == .seconds(20))
        #expect(limited.shortReason == "the model is rate-limited")
        // retry-after-ms is the more precise of the two.
        let precise = error(
            429, #"{"error":{"message":"slow down","code":"rate_limit_exceeded"}}"#,
            headers: ["retry-after-ms": "1500", "retry-after": "2"])
        #expect(precise.retryAfter == .milliseconds(1500))
        let quota = error(
            429,
            #"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","#
                + #""type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#)
        #expect(quota.errorClass == .fatal && !quota.isRetryable)
        #expect(quota.shortReason == "the model quota is used up")
    }

    @Test func serverTransportTimeoutMalformedAndCancelledClasses() {
        for status in [500, 502, 503, 504, 408, 409] {
            #expect(error(status, "").errorClass == .server, "\(status)")
        }
        #expect(error(503, "").isRetryable)
        #expect(error(503, "").description == "model API error 503 [server]: HTTP 503 without an error object")
        #expect(ModelError.transport(.timedOut).errorClass == .timeout)
        #expect(ModelError.transport(.timedOut).isRetryable)
        #expect(ModelError.transport(.timedOut).description.contains("timed out"))
        #expect(ModelError.transport(.connectionFailed("connection lost")).errorClass == .transport)
        #expect(ModelError.transport(.cancelled).errorClass == .cancelled)
        #expect(!ModelError.transport(.cancelled).isRetryable)
        #expect(ModelError.malformed("x").errorClass == .malformed)
        #expect(ModelError.malformed("x").isRetryable && ModelError.malformed("x").maxRetries == 1)
        #expect(ModelError.misconfigured("script ran out").errorClass == .fatal)
        #expect(Set(ModelErrorClass.allCases.map(\.rawValue)).count == ModelErrorClass.allCases.count)
    }

    @Test func aMalformedAnswerIsRetriedOnceThenEndsTheCall() async {
        let policy = RetryPolicy(attempts: 5, baseDelay: .zero, maxDelay: .zero)
        let calls = Counter()
        await #expect(throws: ModelError.self) {
            try await withRetries(policy) { () async throws(ModelError) -> Int in
                calls.increment()
                throw .malformed("garbage")
            }
        }
        #expect(calls.value == 2)
        // A server error is retried as often as the policy allows; a fatal one not at all.
        calls.reset()
        _ = try? await withRetries(policy) { () async throws(ModelError) -> Int in
            calls.increment()
            throw .api(status: 503, message: "busy", code: nil, retryAfter: nil)
        }
        #expect(calls.value == 5)
        calls.reset()
        _ = try? await withRetries(policy) { () async throws(ModelError) -> Int in
            calls.increment()
            throw .api(status: 401, message: "no", code: "invalid_api_key", retryAfter: nil)
        }
        #expect(calls.value == 1)
    }

    @Test func aWholeCompletionCarriesReasoningAndItsTokens() throws {
        let completion = try OpenAIProvider.decode(
            HTTPResponse(
                status: 200, headers: [:],
                body: Data(
                    (#"{"choices":[{"index":0,"message":{"role":"assistant","content":"42","#
                        + #""reasoning_content":"6 times 7"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"#
                        + #""completion_tokens":30,"prompt_tokens_details":{"cached_tokens":0},"#
                        + #""completion_tokens_details":{"reasoning_tokens":25}}}"#).utf8)))
        #expect(completion.content == "42")
        #expect(completion.reasoningContent == "6 times 7")
        #expect(completion.reasoningTokens == 25)
        #expect(completion.cachedTokens == 0)
        #expect(!completion.streamed)
        #expect(completion.timeToFirstTokenMs == nil)
    }
}

/// A count shared with a retried closure.
private final class Counter: Sendable {
    private let count = Mutex(0)

    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
    func reset() { count.withLock { $0 = 0 } }
}

/// What the supervisor looks for in `model_calls.error_class` to show the last fatal model error in `status`.
@Suite struct ModelErrorClassNameTests {
    @Test func theFatalClassIsTheNameTheSupervisorLooksFor() {
        #expect(ModelErrorClass.fatal.rawValue == ModelCallLog.fatalErrorClass)
    }
}

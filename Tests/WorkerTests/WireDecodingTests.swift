import AutonousCore
import Foundation
import Testing

@testable import Worker

@Suite struct WireDecodingTests {
    private func response(_ status: Int, _ body: String, headers: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
    }

    @Test func botAPIEnvelopes() throws {
        #expect(try TelegramClient.decodeEnvelope(response(200, #"{"ok":true,"result":[1]}"#)) == .array([.int(1)]))
        #expect {
            try TelegramClient.decodeEnvelope(
                response(
                    429,
                    #"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
                ))
        } throws: { error in
            guard let error = error as? TelegramError, case .api(429, _, 7) = error else { return false }
            return error.isRetryable && error.retryAfter == .seconds(7)
        }
        #expect {
            try TelegramClient.decodeEnvelope(
                response(400, #"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#))
        } throws: { error in
            guard let error = error as? TelegramError, case .api(400, "Bad Request: chat not found", nil) = error else {
                return false
            }
            return !error.isRetryable
        }
        #expect {
            try TelegramClient.decodeEnvelope(response(502, "<html>Bad Gateway</html>"))
        } throws: { error in
            guard let error = error as? TelegramError, case .http(502) = error else { return false }
            return error.isRetryable
        }
        #expect {
            try TelegramClient.decodeEnvelope(response(200, #"{"ok":tru"#))
        } throws: { error in
            guard let error = error as? TelegramError, case .malformed = error else { return false }
            return error.isRetryable
        }
    }

    @Test func updatesAreReadFromTheirRawJSON() throws {
        let message = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(
                #"{"update_id":5,"message":{"message_id":1,"chat":{"id":-10,"type":"group"},"from":{"id":42},"text":"hi"}}"#
                    .utf8))
        let update = try #require(TelegramUpdate(message))
        #expect(update.updateID == 5)
        #expect(update.kind == "message")
        #expect(update.chatID == -10)
        #expect(update.userID == 42)
        #expect(update.text == "hi")
        let callback = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(
                #"{"update_id":6,"callback_query":{"id":"q","from":{"id":7},"message":{"chat":{"id":7}},"data":"approve:1"}}"#
                    .utf8))
        #expect(TelegramUpdate(callback)?.text == "approve:1")
        #expect(TelegramUpdate(.object(["message": .object([:])])) == nil)
        #expect(TelegramUpdate(.string("nonsense")) == nil)
    }

    @Test func completionsAndTheirErrors() throws {
        let completion = try OpenAIProvider.decode(
            response(
                200,
                #"{"choices":[{"message":{"role":"assistant","content":"hey"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#
            ))
        #expect(completion.content == "hey")
        #expect(completion.inputTokens == 11)
        #expect(completion.outputTokens == 2)
        #expect(completion.cachedTokens == 4)
        #expect(completion.finishReason == "stop")

        #expect {
            try OpenAIProvider.decode(
                response(
                    429,
                    #"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                    headers: ["Retry-After": "2"]))
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.isRetryable && error.retryAfter == .seconds(2) && error.httpStatus == 429
        }
        #expect {
            try OpenAIProvider.decode(
                response(
                    429,
                    #"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#
                ))
        } throws: { error in
            (error as? ModelError)?.isRetryable == false
        }
        #expect {
            try OpenAIProvider.decode(
                response(401, #"{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}"#))
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return !error.isRetryable && error.shortReason == "the model API refused the key"
        }
        for body in [
            #"{"id":"x","choices":["#, #"{"choices":[]}"#, #"[1,2]"#, #"{"choices":[{"message":{"content":5}}]}"#,
        ] {
            #expect {
                try OpenAIProvider.decode(response(200, body))
            } throws: { error in
                guard let error = error as? ModelError, case .malformed = error else { return false }
                return error.isRetryable
            }
        }
    }

    @Test func backoffGrowsIsCappedAndHonoursRetryAfter() {
        let policy = RetryPolicy(attempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for attempt in 1 ... 8 {
            let delay = policy.delay(afterAttempt: attempt)
            let nominal = min(Duration.milliseconds(100) * (1 << (attempt - 1)), .seconds(1))
            #expect(delay <= nominal && delay >= nominal / 2, "attempt \(attempt): \(delay)")
        }
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(30)) == .seconds(30))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(100_000)) == .seconds(600))
    }
}

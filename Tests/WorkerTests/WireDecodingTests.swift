import AutonousCore
import Foundation
import Synchronization
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

    /// A Stop pressed on a draft names only the chat, which for a private chat is the user; it is taken out of band.
    @Test func aStoppedDraftIsReadAsItsChatsUser() throws {
        let stopped = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(
                #"{"update_id":8,"stopped_message_generation":{"chat":{"id":42,"type":"private"},"draft_id":17}}"#
                    .utf8))
        let update = try #require(TelegramUpdate(stopped))
        #expect(update.kind == Inbox.generationStoppedKind)
        #expect(update.chatID == 42)
        #expect(update.userID == 42)
        #expect(update.inboxItem.kind == Inbox.generationStoppedKind)
        let group = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(
                #"{"update_id":9,"stopped_message_generation":{"chat":{"id":-5,"type":"group"},"draft_id":17}}"#
                    .utf8))
        #expect(TelegramUpdate(group)?.userID == nil, "a chat that is not a user names nobody")
        #expect(TelegramPoller.allowedUpdates.contains("stopped_message_generation"))
    }

    /// A Stop stops the run whose draft it names, and no later run of the chat.
    @Test func aDraftStopReachesOnlyTheRunThatShowsThatDraft() {
        let runs = ActiveRuns()
        let cancelled = Mutex(0)
        runs.begin(chat: "telegram:42", runID: "run-2", draftID: 2) { cancelled.withLock { $0 += 1 } }
        let stop = StopRequest(reason: .cancelled, by: "telegram:42", sentence: "Stopped.")
        #expect(runs.stop(chat: "telegram:42", draftID: 1, stop) == nil)
        #expect(cancelled.withLock { $0 } == 0)
        #expect(runs.stop(chat: "telegram:42", draftID: 2, stop) == "run-2")
        #expect(cancelled.withLock { $0 } == 1)
        #expect(runs.finish(chat: "telegram:42", runID: "run-2") == stop)
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

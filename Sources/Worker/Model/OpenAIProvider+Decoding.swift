import AutonousCore
import Foundation

extension OpenAIProvider {
    /// Decodes a whole (not streamed) completion, or the API's error object.
    static func decode(_ response: HTTPResponse) throws(ModelError) -> ChatCompletion {
        guard response.status == 200 else {
            throw apiError(status: response.status, headers: response.headers, body: response.body)
        }
        let json = try? JSONValue(parsing: response.body)
        guard let json, json.objectValue != nil else {
            throw .malformed("body is not a JSON object (\(response.body.count) bytes)")
        }
        if let error = errorObject(in: json) { throw streamedError(error) }
        guard case .array(let choices)? = json["choices"], let first = choices.first else {
            throw .malformed("no choices in the completion")
        }
        guard let message = first["message"], message.objectValue != nil else {
            throw .malformed("the first choice has no message")
        }
        let content: String
        switch message["content"] {
        case .string(let text)?: content = text
        case .null?, nil: content = message["refusal"]?.stringValue ?? ""
        default: throw .malformed("message.content is neither text nor null")
        }
        var toolCalls: [ToolCall] = []
        if case .array(let calls)? = message["tool_calls"] {
            for call in calls {
                guard let id = call["id"]?.stringValue, let name = call["function"]?["name"]?.stringValue else {
                    throw .malformed("a tool call has no id or function name")
                }
                toolCalls.append(
                    ToolCall(id: id, name: name, arguments: call["function"]?["arguments"]?.stringValue ?? ""))
            }
        }
        var completion = ChatCompletion(
            content: content, toolCalls: toolCalls, finishReason: first["finish_reason"]?.stringValue,
            httpStatus: response.status)
        completion.reasoningContent = reasoning(in: message)
        readUsage(json["usage"], into: &completion)
        return completion
    }

    /// The model's separate reasoning: `reasoning_content` (DeepSeek, vLLM, llama.cpp) or `reasoning` (others).
    static func reasoning(in message: JSONValue) -> String? {
        message["reasoning_content"]?.stringValue ?? message["reasoning"]?.stringValue
    }

    /// Copies the token counts of a `usage` object.
    static func readUsage(_ usage: JSONValue?, into completion: inout ChatCompletion) {
        guard let usage, usage.objectValue != nil else { return }
        completion.inputTokens = usage["prompt_tokens"]?.intValue.map(Int.init)
        completion.outputTokens = usage["completion_tokens"]?.intValue.map(Int.init)
        completion.cachedTokens = usage["prompt_tokens_details"]?["cached_tokens"]?.intValue.map(Int.init)
        completion.reasoningTokens = usage["completion_tokens_details"]?["reasoning_tokens"]?.intValue.map(Int.init)
    }

    /// The error an error status carries: OpenAI's `{"error": {"message", "type", "code"}}`, vLLM's flat
    /// `{"object": "error", "message", …}`, Ollama's `{"error": "text"}`, or the bare status. A wait the server asks
    /// for comes from `retry-after-ms` (OpenAI) or `retry-after` in seconds.
    static func apiError(status: Int, headers: [String: String], body: Data) -> ModelError {
        let json = try? JSONValue(parsing: body)
        let error = json.flatMap(errorObject(in:))
        let message =
            error?["message"]?.stringValue ?? json?["error"]?.stringValue
            ?? "HTTP \(status) without an error object"
        let response = HTTPResponse(status: status, headers: headers, body: Data())
        var retryAfter: Duration?
        if let milliseconds = response.header("retry-after-ms").flatMap(Double.init), milliseconds >= 0 {
            retryAfter = .milliseconds(Int64(milliseconds))
        } else if let seconds = response.header("retry-after").flatMap(Double.init), seconds >= 0 {
            retryAfter = .milliseconds(Int64(seconds * 1000))
        }
        return .api(status: status, message: message, code: code(of: error), retryAfter: retryAfter)
    }

    /// An error a server sent instead of a chunk, in a stream or a success body: the status is the error's numeric
    /// code when it has one, 429 for a rate limit, else 500 (the server failed after it accepted the request).
    static func streamedError(_ error: JSONValue) -> ModelError {
        let code = code(of: error)
        var status = 500
        if let number = error["code"]?.intValue, (400 ... 599).contains(number) {
            status = Int(number)
        } else if let code, code.contains("rate_limit") {
            status = 429
        }
        let message = error["message"]?.stringValue ?? "the server reported an error in the stream"
        return .api(status: status, message: message, code: code, retryAfter: nil)
    }

    /// The error object of a body or chunk, if it is one.
    static func errorObject(in json: JSONValue) -> JSONValue? {
        if let error = json["error"], error.objectValue != nil { return error }
        if json["object"]?.stringValue == "error" { return json }
        return nil
    }

    /// The error's `code` when it is text, else its `type` (llama.cpp's code is the HTTP status, its type the kind).
    private static func code(of error: JSONValue?) -> String? {
        error?["code"]?.stringValue ?? error?["type"]?.stringValue
    }
}

import AutonousCore
import Foundation

/// A function call the model asked for: its id, the tool's name and the arguments as the JSON text it sent.
struct ToolCall: Sendable, Equatable {
    var id: String
    var name: String
    var arguments: String
}

/// One message sent to the model: system, user, assistant (text and/or tool calls) or a tool's result.
struct ChatMessage: Sendable, Equatable {
    var role: String
    var content: String?
    var toolCalls: [ToolCall] = []
    var toolCallID: String?

    init(role: String, content: String?, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// The message in the chat-completions wire format.
    var wire: JSONValue {
        var object: [String: JSONValue] = ["role": .string(role), "content": content.map(JSONValue.string) ?? .null]
        if !toolCalls.isEmpty {
            object["tool_calls"] = .array(
                toolCalls.map { call in
                    .object([
                        "id": .string(call.id), "type": .string("function"),
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                    ])
                })
        }
        if let toolCallID { object["tool_call_id"] = .string(toolCallID) }
        return .object(object)
    }
}

/// A completion: the text, the tool calls, and what the API reported about it.
struct ChatCompletion: Sendable, Equatable {
    var content: String
    var toolCalls: [ToolCall] = []
    var finishReason: String?
    var inputTokens: Int?
    var outputTokens: Int?
    var cachedTokens: Int?
    var httpStatus: Int
}

/// Calls `POST <base>/chat/completions` of the OpenAI API or any server that speaks it.
struct ChatCompletionsClient: Sendable {
    let baseURL: URL
    let apiKey: Secret?
    let model: String
    let timeout: Duration
    let transport: HTTPTransport

    /// One request, no retries (the caller retries with its policy so each attempt is recorded).
    ///
    /// - Parameter tools: function definitions (`{"type":"function","function":{…}}`) the model may call.
    func complete(_ messages: [ChatMessage], tools: [JSONValue] = []) async throws(ModelError) -> ChatCompletion {
        var request = HTTPRequest(url: baseURL.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey.value)", forHTTPHeaderField: "Authorization") }
        var fields: [String: JSONValue] = ["model": .string(model), "messages": .array(messages.map(\.wire))]
        if !tools.isEmpty { fields["tools"] = .array(tools) }
        let body = JSONValue.object(fields)
        request.httpBody = Data(body.jsonText.utf8)
        let response: HTTPResponse
        do {
            response = try await transport.send(request, timeout: timeout)
        } catch {
            throw .transport(error)
        }
        return try Self.decode(response)
    }

    /// Decodes a completion or the API's error object.
    static func decode(_ response: HTTPResponse) throws(ModelError) -> ChatCompletion {
        let json = try? JSONCoding.decoder.decode(JSONValue.self, from: response.body)
        guard response.status == 200 else {
            let error = json?["error"]
            let message = error?["message"]?.stringValue ?? "HTTP \(response.status) without an error object"
            let code = error?["code"]?.stringValue ?? error?["type"]?.stringValue
            let retryAfter = response.header("retry-after").flatMap(Double.init).map {
                Duration.milliseconds(Int64($0 * 1000))
            }
            throw .api(status: response.status, message: message, code: code, retryAfter: retryAfter)
        }
        guard let json, json.objectValue != nil else {
            throw .malformed("body is not a JSON object (\(response.body.count) bytes)")
        }
        guard case .array(let choices)? = json["choices"], let first = choices.first else {
            throw .malformed("no choices in the completion")
        }
        guard let message = first["message"], message.objectValue != nil else {
            throw .malformed("the first choice has no message")
        }
        let content: String
        switch message["content"] {
        case .string(let text)?: content = text
        case .null?, nil:
            if let refusal = message["refusal"]?.stringValue {
                content = refusal
            } else {
                content = ""
            }
        default:
            throw .malformed("message.content is neither text nor null")
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
        let usage = json["usage"]
        return ChatCompletion(
            content: content,
            toolCalls: toolCalls,
            finishReason: first["finish_reason"]?.stringValue,
            inputTokens: usage?["prompt_tokens"]?.intValue.map(Int.init),
            outputTokens: usage?["completion_tokens"]?.intValue.map(Int.init),
            cachedTokens: usage?["prompt_tokens_details"]?["cached_tokens"]?.intValue.map(Int.init),
            httpStatus: response.status)
    }
}

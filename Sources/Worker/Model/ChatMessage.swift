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
    /// Prompt tokens the provider served from its cache (`prompt_tokens_details.cached_tokens`).
    var cachedTokens: Int?
    var httpStatus: Int
    /// The model's reasoning, when the server sends it apart from the answer (`reasoning_content`: DeepSeek,
    /// vLLM, llama.cpp); never part of `content`.
    var reasoningContent: String? = nil
    /// Output tokens spent on reasoning (`completion_tokens_details.reasoning_tokens`).
    var reasoningTokens: Int? = nil
    /// From sending the request to the first piece of the answer (text, reasoning or a tool call); streamed
    /// calls only.
    var timeToFirstTokenMs: Int64? = nil
    /// Whether the answer arrived as a stream of server-sent events.
    var streamed: Bool = false
}

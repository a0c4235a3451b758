import AutonousCore
import Foundation

/// Builds one completion from the `chat.completion.chunk` events of a streamed answer.
///
/// Each chunk carries a `delta` of the first choice: text (`content`, or `refusal`), reasoning
/// (`reasoning_content` or `reasoning`), and tool calls by `index`, whose `id` and `name` come once and whose
/// `arguments` come in pieces. A `finish_reason` ends the choice; with `include_usage` a last chunk with no choices
/// carries `usage`; `data: [DONE]` ends the stream. An event that is an error object (or of type `error`) fails
/// the call with the server's error.
struct ChatStreamAssembler: Sendable {
    /// What one event added, for the caller to pass on as it arrives.
    struct Delta: Sendable, Equatable {
        /// Answer text (including a refusal), possibly empty.
        var text = ""
        /// Whether the event carried any output at all: text, reasoning or a tool call.
        var isOutput = false
    }

    /// A tool call being assembled.
    private struct PartialCall: Sendable {
        var id = ""
        var name = ""
        var arguments = ""
    }

    private(set) var isDone = false
    private var content = ""
    private var refusal = ""
    private var reasoning = ""
    private var calls: [Int: PartialCall] = [:]
    private var sawChoice = false
    private var finishReason: String?
    private var usage: JSONValue?

    /// Takes one event of the stream.
    ///
    /// - Throws: `ModelError.api` for an error event, `.malformed` for an event that is not a JSON chunk.
    mutating func take(_ event: SSEEvent) throws(ModelError) -> Delta {
        if event.data.trimmingCharacters(in: .whitespaces) == "[DONE]" {
            isDone = true
            return Delta()
        }
        guard let chunk = try? JSONValue(parsing: event.data),
            chunk.objectValue != nil
        else {
            throw .malformed("a stream event is not a JSON object: \(event.data.prefix(120))")
        }
        if let error = OpenAIProvider.errorObject(in: chunk) { throw OpenAIProvider.streamedError(error) }
        if event.type == "error" { throw OpenAIProvider.streamedError(chunk) }
        if let usage = chunk["usage"], usage.objectValue != nil { self.usage = usage }
        guard case .array(let choices)? = chunk["choices"], let choice = choices.first else { return Delta() }
        sawChoice = true
        if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        guard let delta = choice["delta"], delta.objectValue != nil else { return Delta() }
        var result = Delta()
        if let text = delta["content"]?.stringValue, !text.isEmpty {
            content += text
            result.text += text
        }
        if let text = delta["refusal"]?.stringValue, !text.isEmpty {
            refusal += text
            result.text += text
        }
        if let text = OpenAIProvider.reasoning(in: delta), !text.isEmpty {
            reasoning += text
            result.isOutput = true
        }
        if case .array(let pieces)? = delta["tool_calls"] {
            for (position, piece) in pieces.enumerated() {
                let index = piece["index"]?.intValue.map(Int.init) ?? position
                var call = calls[index] ?? PartialCall()
                if let id = piece["id"]?.stringValue, call.id.isEmpty { call.id = id }
                if let name = piece["function"]?["name"]?.stringValue, call.name.isEmpty { call.name = name }
                if let arguments = piece["function"]?["arguments"]?.stringValue { call.arguments += arguments }
                calls[index] = call
                result.isOutput = true
            }
        }
        if !result.text.isEmpty { result.isOutput = true }
        return result
    }

    /// The completion the stream carried.
    ///
    /// - Throws: `.malformed` when the stream ended before `[DONE]` and a finish reason, carried no choice, or named
    ///   a tool call without a function name.
    func completion(httpStatus: Int) throws(ModelError) -> ChatCompletion {
        guard isDone || finishReason != nil else {
            throw .malformed("the stream ended before the answer was complete")
        }
        guard sawChoice else { throw .malformed("the stream carried no choices") }
        var toolCalls: [ToolCall] = []
        for index in calls.keys.sorted() {
            guard let call = calls[index], !call.name.isEmpty else {
                throw .malformed("streamed tool call \(index) has no function name")
            }
            // A server that sends no id still gets one, so the tool's result can answer it.
            toolCalls.append(
                ToolCall(id: call.id.isEmpty ? "call_\(index)" : call.id, name: call.name, arguments: call.arguments))
        }
        var completion = ChatCompletion(
            content: content.isEmpty ? refusal : content, toolCalls: toolCalls, finishReason: finishReason,
            httpStatus: httpStatus)
        completion.reasoningContent = reasoning.isEmpty ? nil : reasoning
        completion.streamed = true
        OpenAIProvider.readUsage(usage, into: &completion)
        return completion
    }
}

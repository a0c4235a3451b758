import AutonousCore
import Foundation
import FoundationNetworking

/// One message sent to the model.
struct ChatMessage: Sendable, Equatable, Codable {
    var role: String
    var content: String
}

/// A completion: the text and what the API reported about it.
struct ChatCompletion: Sendable, Equatable {
    var content: String
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
    func complete(_ messages: [ChatMessage]) async throws(ModelError) -> ChatCompletion {
        var request = URLRequest(url: baseURL.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey.value)", forHTTPHeaderField: "Authorization") }
        let body: JSONValue = .object([
            "model": .string(model),
            "messages": .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
        ])
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
        let usage = json["usage"]
        return ChatCompletion(
            content: content,
            finishReason: first["finish_reason"]?.stringValue,
            inputTokens: usage?["prompt_tokens"]?.intValue.map(Int.init),
            outputTokens: usage?["completion_tokens"]?.intValue.map(Int.init),
            cachedTokens: usage?["prompt_tokens_details"]?["cached_tokens"]?.intValue.map(Int.init),
            httpStatus: response.status)
    }
}

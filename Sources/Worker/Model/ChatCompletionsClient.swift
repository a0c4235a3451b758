import AutonousCore
import Foundation

/// The agent's handle on its model: one `ModelProvider` (OpenAI-compatible or scripted), called without streaming
/// callbacks unless the caller asks for them.
struct ChatCompletionsClient: Sendable {
    let provider: any ModelProvider

    /// The provider's name (`openai`, `scripted`), for status and events.
    var name: String { provider.name }
    var model: String { provider.model }

    init(provider: any ModelProvider) {
        self.provider = provider
    }

    /// A client of `POST <base>/chat/completions` of the OpenAI API or any server that speaks it.
    init(baseURL: URL, apiKey: Secret?, model: String, timeout: Duration, transport: HTTPTransport, stream: Bool = true)
    {
        provider = OpenAIProvider(
            baseURL: baseURL, apiKey: apiKey, model: model, timeout: timeout, transport: transport, stream: stream)
    }

    /// One request, no retries (the caller retries with its policy so each attempt is recorded).
    ///
    /// - Parameter tools: function definitions (`{"type":"function","function":{…}}`) the model may call.
    func complete(_ messages: [ChatMessage], tools: [JSONValue] = []) async throws(ModelError) -> ChatCompletion {
        try await provider.complete(messages, tools: tools, onText: { _ in })
    }

    /// One request, no retries; `onText` gets the answer's text as it arrives.
    func complete(
        _ messages: [ChatMessage], tools: [JSONValue] = [], onText: @escaping @Sendable (String) async -> Void
    ) async throws(ModelError) -> ChatCompletion {
        try await provider.complete(messages, tools: tools, onText: onText)
    }
}

import AutonousCore
import Foundation

/// A source of chat completions: the OpenAI API (or any server that speaks it), or a script for tests and demos.
protocol ModelProvider: Sendable {
    /// "openai" or "scripted"; named in status and in every model-call event.
    var name: String { get }
    var model: String { get }
    /// One request, no retries (the caller retries and records each attempt). `onText` gets the answer's text as
    /// it arrives (streaming); a provider that cannot stream calls it once with the whole text, or never when there
    /// is none.
    func complete(
        _ messages: [ChatMessage], tools: [JSONValue], onText: @escaping @Sendable (String) async -> Void
    ) async throws(ModelError) -> ChatCompletion
}

/// Builds the configured provider, once, in `main`.
enum ModelProviders {
    /// The provider `AUTONOUS_MODEL_PROVIDER` names, or nil when no model is configured.
    static func make(_ configuration: Configuration, transport: HTTPTransport) -> (any ModelProvider)? {
        switch configuration.modelProvider {
        case .scripted:
            guard let script = configuration.modelScript else { return nil }
            return ScriptedProvider(
                script: script, model: configuration.model, source: configuration.modelScriptPath ?? "the script")
        case .openai:
            guard configuration.modelConfigured else { return nil }
            return OpenAIProvider(
                baseURL: configuration.openAIBaseURL, apiKey: configuration.openAIKey, model: configuration.model,
                timeout: configuration.modelTimeout, transport: transport, stream: configuration.modelStream,
                maxCompletionTokens: configuration.runLimits.maxCompletionTokens)
        }
    }
}

import AutonousCore
import Foundation

/// Calls `POST <base>/chat/completions` of the OpenAI API or any server that speaks it (llama.cpp, vLLM, Ollama…).
///
/// Streaming (the default) asks for `"stream": true` with usage in the last chunk and reads the server-sent events
/// as libcurl receives them, so `onText` sees the answer grow; `timeout` then bounds the silence between bytes
/// rather than the whole answer. Without streaming `timeout` bounds the whole call and `onText` gets the text once.
struct OpenAIProvider: ModelProvider {
    let name = "openai"
    let baseURL: URL
    let apiKey: Secret?
    let model: String
    let timeout: Duration
    let transport: HTTPTransport
    /// Whether to ask for a stream (`AUTONOUS_MODEL_STREAM`).
    var stream = true
    /// `max_completion_tokens` of each request (`AUTONOUS_MAX_COMPLETION_TOKENS`); nil sends none.
    var maxCompletionTokens: Int?
    /// The clock the time to first token is measured on.
    var clock: any Clock<Duration> = ContinuousClock()

    /// The limit of a whole streamed answer, however steadily it flows.
    static let streamLimit = Duration.seconds(30 * 60)

    /// The request for `messages` and `tools`, streamed or not as configured.
    func request(_ messages: [ChatMessage], tools: [JSONValue]) -> HTTPRequest {
        var request = HTTPRequest(url: baseURL.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey.value)", forHTTPHeaderField: "Authorization") }
        var fields: [String: JSONValue] = ["model": .string(model), "messages": .array(messages.map(\.wire))]
        if !tools.isEmpty { fields["tools"] = .array(tools) }
        if let maxCompletionTokens { fields["max_completion_tokens"] = .int(Int64(maxCompletionTokens)) }
        if stream {
            fields["stream"] = .bool(true)
            fields["stream_options"] = .object(["include_usage": .bool(true)])
            request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        }
        request.httpBody = Data(JSONValue.object(fields).jsonText.utf8)
        return request
    }

    func complete(
        _ messages: [ChatMessage], tools: [JSONValue], onText: @escaping @Sendable (String) async -> Void
    ) async throws(ModelError) -> ChatCompletion {
        let request = request(messages, tools: tools)
        guard stream else {
            let response: HTTPResponse
            do {
                response = try await transport.send(request, timeout: timeout)
            } catch {
                throw .transport(error)
            }
            let completion = try Self.decode(response)
            if !completion.content.isEmpty { await onText(completion.content) }
            return completion
        }
        return try await completeStreaming(request, onText: onText)
    }

    private func completeStreaming(_ request: HTTPRequest, onText: @escaping @Sendable (String) async -> Void)
        async throws(ModelError) -> ChatCompletion
    {
        let elapsed = clock.stopwatch()
        let response: HTTPStream
        do {
            response = try await transport.stream(request, idleTimeout: timeout, timeout: Self.streamLimit)
        } catch {
            throw .transport(error)
        }
        guard response.status == 200 else {
            // The error's body is small; if it cannot be read whole, the status alone still classifies it.
            let body = (try? await response.collect()) ?? Data()
            throw Self.apiError(status: response.status, headers: response.headers, body: body)
        }
        guard (response.header("content-type") ?? "").lowercased().contains("text/event-stream") else {
            // A server that ignored "stream": true answers with an ordinary completion.
            let body: Data
            do {
                body = try await response.collect()
            } catch {
                throw .transport(error)
            }
            let completion = try Self.decode(HTTPResponse(status: 200, headers: response.headers, body: body))
            if !completion.content.isEmpty { await onText(completion.content) }
            return completion
        }
        var parser = SSEParser()
        var assembler = ChatStreamAssembler()
        var firstToken: Duration?
        reading: for await piece in response.body {
            let bytes: Data
            switch piece {
            case .data(let data): bytes = data
            case .failed(let error): throw .transport(error)
            }
            let events: [SSEEvent]
            do {
                events = try parser.feed(bytes)
            } catch {
                throw .malformed("\(error)")
            }
            for event in events {
                let delta = try assembler.take(event)
                if firstToken == nil && delta.isOutput { firstToken = elapsed() }
                if !delta.text.isEmpty { await onText(delta.text) }
                if assembler.isDone { break reading }
            }
        }
        if Task.isCancelled && !assembler.isDone { throw .transport(.cancelled) }
        var completion = try assembler.completion(httpStatus: response.status)
        completion.timeToFirstTokenMs = firstToken.map(\.wholeMilliseconds)
        return completion
    }
}

extension Clock where Duration == Swift.Duration {
    /// A function that returns the time passed on this clock since it was made.
    func stopwatch() -> () -> Swift.Duration {
        let start = now
        return { start.duration(to: now) }
    }
}

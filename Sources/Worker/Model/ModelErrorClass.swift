/// What kind of failure a model call met, which decides whether and how often it is tried again.
///
/// The raw values are recorded in events and the model-call log; they never change.
enum ModelErrorClass: String, Sendable, CaseIterable {
    /// The conversation does not fit the model's context window (OpenAI's `context_length_exceeded`, llama.cpp's
    /// `exceed_context_size_error`, vLLM's and others' "maximum context length" messages, 413). The same request
    /// cannot succeed; the agent shortens the conversation and tries once more itself.
    case contextLengthExceeded = "context_length_exceeded"
    /// Only an operator can fix it: a refused key (401, 403), an unknown model or URL (404), a used-up quota
    /// (429 `insufficient_quota`), any other rejected request (4xx), or a provider that cannot answer at all.
    case fatal
    /// 429: too many requests or tokens for now; retried after the server's Retry-After when it sends one.
    case rateLimited = "rate_limited"
    /// 5xx, 408 and 409, or an error the server reported in the middle of a stream.
    case server
    /// No answer (or, streaming, no byte) within the configured time.
    case timeout
    /// The connection failed: refused, reset, DNS, TLS.
    case transport
    /// A success status whose body is not a usable completion.
    case malformed
    /// The caller gave up (a cancelled run, a shutdown).
    case cancelled

    /// Whether trying the same request again may help.
    var isRetryable: Bool {
        switch self {
        case .rateLimited, .server, .timeout, .transport, .malformed: return true
        case .contextLengthExceeded, .fatal, .cancelled: return false
        }
    }

    /// How many times a request failing this way is tried again at most; nil leaves it to the caller's policy.
    ///
    /// A malformed answer is retried once: a second one means the server does not speak the protocol.
    var maxRetries: Int? {
        switch self {
        case .rateLimited, .server, .timeout, .transport: return nil
        case .malformed: return 1
        case .contextLengthExceeded, .fatal, .cancelled: return 0
        }
    }

    /// Classifies an error the API reported, from its HTTP status, its `code` (or `type`) and its message.
    ///
    /// Servers word a full context differently: OpenAI sends the code `context_length_exceeded`; llama.cpp the type
    /// `exceed_context_size_error` ("request (N tokens) exceeds the available context size"); vLLM and servers
    /// built on it "This model's maximum context length is N tokens"; Ollama "input length exceeds the context
    /// length". Any of those, on a 4xx, is `contextLengthExceeded`.
    static func classify(status: Int, code: String?, message: String) -> ModelErrorClass {
        let code = code?.lowercased()
        if code == "context_length_exceeded" || code == "exceed_context_size_error" || status == 413 {
            return .contextLengthExceeded
        }
        if (400 ..< 500).contains(status) && status != 429 && mentionsFullContext(message) {
            return .contextLengthExceeded
        }
        switch status {
        case 429: return code == "insufficient_quota" ? .fatal : .rateLimited
        case 408, 409, 500 ..< 600: return .server
        case 400 ..< 500: return .fatal
        default: return .server
        }
    }

    /// Phrases servers use when a request does not fit the context window, lowercased.
    static let fullContextPhrases = [
        "maximum context length", "context length exceeded", "context_length_exceeded",
        "exceeds the available context size", "exceeds the context length", "exceeds the context window",
        "exceeds the maximum context", "context window is full", "prompt is too long",
    ]

    static func mentionsFullContext(_ message: String) -> Bool {
        let message = message.lowercased()
        return fullContextPhrases.contains { message.contains($0) }
    }
}

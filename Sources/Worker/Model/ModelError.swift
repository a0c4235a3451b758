/// A failed model call, with its class (`errorClass`) deciding whether it is retried.
enum ModelError: RetryableError, CustomStringConvertible, Sendable {
    /// The API answered with an error object (`{"error": {"message", "type", "code"}}`) or a bare status; in a
    /// stream, `status` is the error's own numeric code when it has one, else 500.
    case api(status: Int, message: String, code: String?, retryAfter: Duration?)
    /// A success whose body is not a usable completion.
    case malformed(String)
    case transport(TransportError)
    /// The provider cannot make this call at all as configured (the scripted provider's script has run out).
    case misconfigured(String)

    /// The kind of failure, recorded in events by its raw value.
    var errorClass: ModelErrorClass {
        switch self {
        case .api(let status, let message, let code, _):
            return ModelErrorClass.classify(status: status, code: code, message: message)
        case .malformed: return .malformed
        case .transport(.timedOut): return .timeout
        case .transport(.cancelled): return .cancelled
        case .transport(.connectionFailed): return .transport
        case .misconfigured: return .fatal
        }
    }

    var isRetryable: Bool { errorClass.isRetryable }

    /// Retries at most for this failure; nil leaves it to the retry policy (see `ModelErrorClass.maxRetries`).
    var maxRetries: Int? { errorClass.maxRetries }

    var retryAfter: Duration? {
        if case .api(_, _, _, let retryAfter) = self { return retryAfter }
        return nil
    }

    var httpStatus: Int? {
        if case .api(let status, _, _, _) = self { return status }
        return nil
    }

    /// For operators and logs: the class, the status and code, and the server's own message.
    var description: String {
        switch self {
        case .api(let status, let message, let code, _):
            return "model API error \(status)" + (code.map { " (\($0))" } ?? "") + " [\(errorClass.rawValue)]: "
                + message
        case .malformed(let detail): return "model API sent a malformed response: \(detail)"
        case .transport(.cancelled): return "the model call was cancelled"
        case .transport(.timedOut): return "model API timed out: no answer (or, streaming, no byte) in time"
        case .transport(let error): return "model API unreachable: \(error)"
        case .misconfigured(let detail): return "model provider cannot answer: \(detail)"
        }
    }

    /// A few words for the apology a user sees.
    var shortReason: String {
        switch errorClass {
        case .contextLengthExceeded: return "the conversation is too long for the model"
        case .rateLimited: return "the model is rate-limited"
        case .server: return "the model service had an error"
        case .timeout: return "the model did not answer in time"
        case .transport: return "the model service could not be reached"
        case .malformed: return "the model sent an unreadable answer"
        case .cancelled: return "the request was cancelled"
        case .fatal:
            switch self {
            case .api(let status, _, let code, _):
                if status == 429 || code == "insufficient_quota" { return "the model quota is used up" }
                if status == 401 || status == 403 { return "the model API refused the key" }
                if status == 404 { return "the model API does not know the model or the URL" }
                return "the model API rejected the request"
            default: return "the model provider is not set up to answer"
            }
        }
    }
}

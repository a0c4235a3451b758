/// A failed chat-completions call.
enum ModelError: RetryableError, CustomStringConvertible, Sendable {
    /// The API answered with an error object (`{"error": {"message", "type", "code"}}`) or a bare status.
    case api(status: Int, message: String, code: String?, retryAfter: Duration?)
    /// A 200 whose body is not a usable completion.
    case malformed(String)
    case transport(TransportError)

    var isRetryable: Bool {
        switch self {
        case .api(let status, _, let code, _):
            if code == "insufficient_quota" { return false }
            return status == 429 || status == 408 || status == 409 || status >= 500
        case .malformed: return true
        case .transport(let error):
            if case .cancelled = error { return false }
            return true
        }
    }

    var retryAfter: Duration? {
        if case .api(_, _, _, let retryAfter) = self { return retryAfter }
        return nil
    }

    var httpStatus: Int? {
        if case .api(let status, _, _, _) = self { return status }
        return nil
    }

    var description: String {
        switch self {
        case .api(let status, let message, let code, _):
            return "model API error \(status)" + (code.map { " (\($0))" } ?? "") + ": \(message)"
        case .malformed(let detail): return "model API sent a malformed response: \(detail)"
        case .transport(let error): return "model API unreachable: \(error)"
        }
    }

    /// A few words for the apology a user sees.
    var shortReason: String {
        switch self {
        case .api(let status, _, let code, _):
            if status == 429 {
                return code == "insufficient_quota" ? "the model quota is used up" : "the model is rate-limited"
            }
            if status == 401 || status == 403 { return "the model API refused the key" }
            if status >= 500 { return "the model service had an error" }
            return "the model API rejected the request"
        case .malformed: return "the model sent an unreadable answer"
        case .transport(let error):
            if case .timedOut = error { return "the model did not answer in time" }
            return "the model service could not be reached"
        }
    }
}

/// A failed Telegram Bot API call.
enum TelegramError: RetryableError, CustomStringConvertible, Sendable {
    /// Telegram answered `ok: false`.
    case api(code: Int, description: String, retryAfter: Int?)
    /// An HTTP error without a Bot API body (a proxy's 502 page, say).
    case http(status: Int)
    /// The body was not the Bot API's JSON.
    case malformed(String)
    case transport(TransportError)

    var isRetryable: Bool {
        switch self {
        case .api(let code, _, _): return code == 429 || code >= 500 || code == 409
        case .http(let status): return status == 429 || status >= 500
        case .malformed: return true
        case .transport(let error):
            if case .cancelled = error { return false }
            return true
        }
    }

    var retryAfter: Duration? {
        if case .api(_, _, let seconds?) = self { return .seconds(seconds) }
        return nil
    }

    var description: String {
        switch self {
        case .api(let code, let description, let retryAfter):
            return "Telegram error \(code): \(description)" + (retryAfter.map { " (retry after \($0)s)" } ?? "")
        case .http(let status): return "Telegram HTTP \(status)"
        case .malformed(let detail): return "Telegram sent a malformed response: \(detail)"
        case .transport(let error): return "Telegram unreachable: \(error)"
        }
    }
}

extension TelegramError {
    /// True when Telegram refused a text's markup: 400 "Bad Request: can't parse entities: …" (an unsupported or
    /// unclosed tag, say). Sending the same text again fails the same way; sending it without markup does not.
    var isEntityParseError: Bool {
        guard case .api(400, let description, _) = self else { return false }
        return description.lowercased().contains("can't parse entities")
    }

    /// True when an edit would leave the message as it is (400 "message is not modified"): the edit's work is
    /// already done.
    var isNotModified: Bool {
        guard case .api(400, let description, _) = self else { return false }
        return description.lowercased().contains("message is not modified")
    }
}

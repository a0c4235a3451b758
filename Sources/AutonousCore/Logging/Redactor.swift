import Synchronization

/// Replaces every registered secret with `<redacted>` in text bound for logs, events or replies.
///
/// The secrets themselves are never passed to a logger; this is the net under that rule, for text that embeds them
/// unseen (an HTTP library's error that quotes a Telegram URL, which carries the bot token in its path).
public final class Redactor: Sendable {
    /// The process-wide redactor the log handlers and the event log use.
    public static let shared = Redactor()

    private let secrets = Mutex<[String]>([])

    public init() {}

    /// Registers a secret; values shorter than 6 characters are ignored to avoid redacting common words.
    public func register(_ secret: Secret?) {
        guard let value = secret?.value, value.count >= 6 else { return }
        secrets.withLock { list in
            if !list.contains(value) { list.append(value) }
        }
    }

    /// The text with every registered secret replaced.
    public func redact(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        var result = text
        for secret in list where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return result
    }
}

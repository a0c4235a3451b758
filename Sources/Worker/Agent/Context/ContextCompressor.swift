import AutonousCore

/// How hard history is shortened.
enum CompressionLevel: String, Sendable {
    /// Every prompt: the configured limits.
    case normal
    /// After the model said the prompt does not fit its context window: half the budget, half the messages, half
    /// the characters per message, and earlier tool output skipped.
    case harder
}

/// What a compressor may keep of the history.
struct CompressionLimits: Sendable, Equatable {
    /// Messages kept at most (the newest).
    var maxMessages: Int
    /// Characters one message keeps at most; the rest is cut, with a marker saying how much.
    var messageChars: Int
    /// Characters a tool result keeps at most; 0 skips the output (a marker says how long it was).
    var toolOutputChars: Int
    /// Estimated tokens the whole prompt may take: the history gets what the other parts leave.
    var tokenBudget: Int
}

extension CompressionLimits {
    /// The limits `settings` (`AUTONOUS_CONTEXT_*`) set at `level`.
    init(_ settings: ContextSettings, level: CompressionLevel) {
        switch level {
        case .normal:
            maxMessages = settings.messages
            messageChars = settings.messageChars
            toolOutputChars = settings.toolOutputChars
            tokenBudget = settings.tokenBudget
        case .harder:
            maxMessages = settings.messages / 2
            messageChars = max(200, settings.messageChars / 2)
            toolOutputChars = 0
            tokenBudget = settings.tokenBudget / 2
        }
    }
}

/// The size of some messages: how many, their characters, and their estimated tokens (four characters a token).
struct ContextSizes: Sendable, Equatable {
    var messages: Int
    var chars: Int
    var tokens: Int
}

extension ContextSizes {
    init(_ list: [ConversationMessage]) {
        messages = list.count
        chars = list.reduce(0) { $0 + $1.characterCount }
        tokens = list.reduce(0) { $0 + $1.estimatedTokens }
    }

    var json: JSONValue {
        .object(["messages": .int(Int64(messages)), "chars": .int(Int64(chars)), "tokens": .int(Int64(tokens))])
    }
}

/// History after compression, with what the rules did to it.
struct CompressedHistory: Sendable, Equatable {
    var messages: [ConversationMessage]
    var before: ContextSizes
    var after: ContextSizes
    /// Messages cut to the character cap (tool results not included).
    var truncated = 0
    /// Tool results cut to the tool-output cap.
    var toolOutputsTruncated = 0
    /// Tool results whose output was left out.
    var toolOutputsSkipped = 0

    /// Whole messages left out (the oldest, and tool turns made whole again after that).
    var dropped: Int { before.messages - after.messages }

    /// True when any rule changed the history.
    var changed: Bool { dropped > 0 || truncated > 0 || toolOutputsTruncated > 0 || toolOutputsSkipped > 0 }
}

/// Shortens the history to what a prompt may carry. Swappable by `AUTONOUS_CONTEXT_PROFILE`.
///
/// What it returns must stay well-formed for the chat-completions API (`ConversationStore.wellFormed`): no tool
/// result without the assistant message that called it, no tool call without its result.
protocol ContextCompressor: Sendable {
    /// - Parameter reserved: estimated tokens of the prompt's other parts (system prompt, context, the user's
    ///   message, this run's turns, tool definitions), which the budget has to hold too.
    func compress(_ history: [ConversationMessage], reserved: Int, limits: CompressionLimits) -> CompressedHistory
}

/// The `naive` compressor, rule by rule: keep the newest `maxMessages`; cut each message to `messageChars` and each
/// tool result to `toolOutputChars` (or skip its output at 0); then drop the oldest messages until the prompt's
/// estimate fits `tokenBudget`. After each drop the history is made whole again (`ConversationStore.wellFormed`),
/// so a tool turn goes as a whole.
struct RuleCompressor: ContextCompressor {
    func compress(_ history: [ConversationMessage], reserved: Int, limits: CompressionLimits) -> CompressedHistory {
        let before = ContextSizes(history)
        var messages = ConversationStore.wellFormed(history)
        if messages.count > limits.maxMessages {
            messages = ConversationStore.wellFormed(Array(messages.suffix(max(0, limits.maxMessages))))
        }
        var result = CompressedHistory(messages: [], before: before, after: before)
        messages = messages.map { cap($0, limits: limits, counting: &result) }
        let budget = max(0, limits.tokenBudget - reserved)
        var tokens = messages.reduce(0) { $0 + $1.estimatedTokens }
        while tokens > budget, !messages.isEmpty {
            messages = ConversationStore.wellFormed(Array(messages.dropFirst()))
            tokens = messages.reduce(0) { $0 + $1.estimatedTokens }
        }
        result.messages = messages
        result.after = ContextSizes(messages)
        return result
    }

    /// `message` cut to its cap: `toolOutputChars` for a tool result, `messageChars` for any other.
    private func cap(
        _ message: ConversationMessage, limits: CompressionLimits, counting result: inout CompressedHistory
    ) -> ConversationMessage {
        guard let content = message.content else { return message }
        var capped = message
        let length = content.count
        if message.role == .tool {
            if limits.toolOutputChars == 0 {
                capped.content = "[tool output of \(length) characters skipped]"
                result.toolOutputsSkipped += 1
            } else if length > limits.toolOutputChars {
                capped.content =
                    String(content.prefix(limits.toolOutputChars))
                    + "\n[… \(length - limits.toolOutputChars) more characters of tool output cut]"
                result.toolOutputsTruncated += 1
            }
        } else if length > limits.messageChars {
            capped.content =
                String(content.prefix(limits.messageChars))
                + "\n[… \(length - limits.messageChars) more characters cut]"
            result.truncated += 1
        }
        return capped
    }
}

extension ConversationMessage {
    /// Characters of the text and the tool calls (names and arguments).
    var characterCount: Int {
        (content?.count ?? 0) + toolCalls.reduce(0) { $0 + $1.name.count + $1.arguments.count }
    }

    /// Estimated tokens of the text and the tool calls: four characters (UTF-8 bytes) a token.
    var estimatedTokens: Int {
        Agent.estimateTokens(content ?? "")
            + toolCalls.reduce(0) { $0 + Agent.estimateTokens($1.name) + Agent.estimateTokens($1.arguments) }
    }
}

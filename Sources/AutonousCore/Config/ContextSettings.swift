import Foundation

/// How the agent builds each prompt from a conversation's history (the context subsystem).
///
/// Every variable, with its default (the README lists the same):
/// - `AUTONOUS_CONTEXT_PROFILE` (`naive`): which context provider, compressor and prompt assembler the worker uses.
/// - `AUTONOUS_CONTEXT_MESSAGES` (`20`, 0 to 500): earlier messages of the conversation sent with each request.
///   `AUTONOUS_HISTORY_MESSAGES` is its older name, still read when the new one is unset.
/// - `AUTONOUS_CONTEXT_MESSAGE_CHARS` (`8000`, 200 to 1000000): characters one earlier message keeps at most.
/// - `AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS` (`2000`, 0 to 1000000): characters an earlier tool result keeps at most;
///   `0` skips earlier tool output (the result says how much was left out).
/// - `AUTONOUS_CONTEXT_TOKEN_BUDGET` (`16000`, 1000 to 10000000): estimated tokens (four characters a token) the
///   whole prompt may take before the oldest history is dropped.
public struct ContextSettings: Sendable, Equatable {
    /// A set of context provider, compressor and prompt assembler (`AUTONOUS_CONTEXT_PROFILE`).
    public enum Profile: String, Sendable, CaseIterable {
        /// The last N messages from the database, compressed by fixed rules, assembled in order.
        case naive
    }

    public var profile: Profile
    /// Earlier messages read and kept at most.
    public var messages: Int
    /// Characters one earlier message keeps at most.
    public var messageChars: Int
    /// Characters an earlier tool result keeps at most; 0 skips it.
    public var toolOutputChars: Int
    /// Estimated tokens the whole prompt may take.
    public var tokenBudget: Int

    public init(
        profile: Profile = .naive, messages: Int = 20, messageChars: Int = 8000, toolOutputChars: Int = 2000,
        tokenBudget: Int = 16000
    ) {
        self.profile = profile
        self.messages = messages
        self.messageChars = messageChars
        self.toolOutputChars = toolOutputChars
        self.tokenBudget = tokenBudget
    }

    /// Reads and checks the `AUTONOUS_CONTEXT_*` variables.
    ///
    /// - Throws: `ConfigurationError` naming the variable that is wrong.
    init(_ env: EnvironmentReader) throws {
        let defaults = ContextSettings()
        profile = try env.choice("AUTONOUS_CONTEXT_PROFILE", default: defaults.profile)
        if env.string("AUTONOUS_CONTEXT_MESSAGES") != nil, env.string("AUTONOUS_HISTORY_MESSAGES") != nil {
            throw ConfigurationError(
                variable: "AUTONOUS_HISTORY_MESSAGES",
                message: "is the older name of AUTONOUS_CONTEXT_MESSAGES; set only AUTONOUS_CONTEXT_MESSAGES")
        }
        let messagesVariable =
            env.string("AUTONOUS_HISTORY_MESSAGES") != nil ? "AUTONOUS_HISTORY_MESSAGES" : "AUTONOUS_CONTEXT_MESSAGES"
        messages = try env.integer(messagesVariable, default: defaults.messages, range: 0 ... 500)
        messageChars = try env.integer(
            "AUTONOUS_CONTEXT_MESSAGE_CHARS", default: defaults.messageChars, range: 200 ... 1_000_000)
        toolOutputChars = try env.integer(
            "AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS", default: defaults.toolOutputChars, range: 0 ... 1_000_000)
        tokenBudget = try env.integer(
            "AUTONOUS_CONTEXT_TOKEN_BUDGET", default: defaults.tokenBudget, range: 1000 ... 10_000_000)
    }
}

import AutonousCore

/// What a run's prompt is built from, besides the system prompt and the user's message.
struct GatheredContext: Sendable, Equatable {
    /// The conversation's earlier messages, oldest first, well-formed for the chat-completions API.
    var history: [ConversationMessage]
    /// Further text for the model about this request (notes, retrieved documents), in order; may be empty.
    var context: [String] = []
}

/// Finds the history and context a run's prompt starts from. Swappable by `AUTONOUS_CONTEXT_PROFILE`.
protocol ContextProvider: Sendable {
    /// The history and context for a message of `conversationID`; `excludingInbox` is the message's own inbox row,
    /// whose user message the prompt adds itself.
    func gather(conversationID: String, excludingInbox: Int64?) throws -> GatheredContext
}

/// The `naive` provider: the last `limit` messages of the conversation from the worker's database
/// (`AUTONOUS_CONTEXT_MESSAGES`), and no further context.
struct RecentMessagesProvider: ContextProvider {
    let database: AppDatabase
    let limit: Int

    func gather(conversationID: String, excludingInbox: Int64?) throws -> GatheredContext {
        GatheredContext(
            history: try ConversationStore(database: database).recent(
                conversationID: conversationID, limit: limit, excludingInbox: excludingInbox))
    }
}

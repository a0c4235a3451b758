import GRDB

/// Which conversation a chat is in. A chat starts in the conversation named like itself (`telegram:<chat id>`);
/// `/new` moves it to a fresh one (`telegram:<chat id>:<started ms>`), so the history before is kept but no longer
/// sent to the model.
public enum ChatConversations {
    /// The chat's current conversation id.
    public static func current(_ db: Database, chat: String) throws -> String {
        try String.fetchOne(
            db, sql: "SELECT conversation_id FROM chat_conversations WHERE chat = ?", arguments: [chat]) ?? chat
    }

    /// Starts a new conversation for `chat` at `now` and returns its id.
    @discardableResult
    public static func startNew(_ db: Database, chat: String, now: Int64 = AppDatabase.nowMilliseconds()) throws
        -> String
    {
        var id = "\(chat):\(now)"
        if try current(db, chat: chat) == id { id += "b" }  // two /new in one millisecond
        try db.execute(
            sql: """
                INSERT INTO chat_conversations (chat, conversation_id, started_ms) VALUES (?, ?, ?)
                ON CONFLICT (chat) DO UPDATE SET conversation_id = excluded.conversation_id,
                    started_ms = excluded.started_ms
                """,
            arguments: [chat, id, now])
        return id
    }
}

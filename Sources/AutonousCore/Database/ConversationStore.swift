import GRDB

/// One message of a conversation's history.
public struct ConversationMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case user, assistant }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// Conversation history, keyed by conversation id (`telegram:<chat>` or `local:<name>`).
public struct ConversationStore: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Appends a message inside an existing transaction. A user message tied to an inbox row is stored once even
    /// when the row is retried after a crash.
    public static func append(
        _ db: Database, conversationID: String, role: ConversationMessage.Role, content: String, inboxID: Int64?,
        runID: String?
    ) throws {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO messages (conversation_id, role, content, inbox_id, run_id, ts_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [conversationID, role.rawValue, content, inboxID, runID, AppDatabase.nowMilliseconds()])
    }

    /// The last `limit` messages of a conversation, oldest first, excluding those of inbox row `excludingInbox`.
    public func recent(conversationID: String, limit: Int, excludingInbox: Int64? = nil) throws -> [ConversationMessage]
    {
        guard limit > 0 else { return [] }
        return try database.pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT role, content FROM messages
                    WHERE conversation_id = ? AND (inbox_id IS NULL OR inbox_id IS NOT ?)
                    ORDER BY id DESC LIMIT ?
                    """,
                arguments: [conversationID, excludingInbox, limit])
            return rows.reversed().compactMap { row in
                ConversationMessage.Role(rawValue: row["role"]).map {
                    ConversationMessage(role: $0, content: row["content"])
                }
            }
        }
    }
}

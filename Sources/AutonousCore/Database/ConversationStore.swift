import Foundation
import GRDB

/// A function call an assistant message asked for, as history keeps it: the call's id, the tool's name and the
/// arguments as the JSON text the model sent.
public struct StoredToolCall: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// One message of a conversation's history: system, user, assistant (text and/or tool calls) or a tool's result.
public struct ConversationMessage: Sendable, Equatable {
    public enum Role: String, Sendable { case system, user, assistant, tool }

    public var role: Role
    /// Nil only for an assistant message that is tool calls alone.
    public var content: String?
    public var toolCalls: [StoredToolCall]
    /// The call a `tool` message answers.
    public var toolCallID: String?
    /// The tool a `tool` message comes from.
    public var toolName: String?

    public init(
        role: Role, content: String?, toolCalls: [StoredToolCall] = [], toolCallID: String? = nil,
        toolName: String? = nil
    ) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.toolName = toolName
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
        try append(
            db, conversationID: conversationID, ConversationMessage(role: role, content: content), inboxID: inboxID,
            runID: runID)
    }

    /// Appends `message` inside an existing transaction; a user message tied to an inbox row is stored once.
    public static func append(
        _ db: Database, conversationID: String, _ message: ConversationMessage, inboxID: Int64?, runID: String?
    ) throws {
        let toolCalls: String? =
            message.toolCalls.isEmpty
            ? nil : String(decoding: try JSONEncoder().encode(message.toolCalls), as: UTF8.self)
        let onceOnly = message.role == .user && inboxID != nil
        try db.executeCached(
            sql: """
                INSERT INTO messages (conversation_id, role, content, tool_calls, tool_call_id, tool_name, inbox_id,
                    run_id, ts_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
                    + (onceOnly
                        ? " ON CONFLICT (inbox_id) WHERE role = 'user' AND inbox_id IS NOT NULL DO NOTHING" : ""),
            arguments: [
                conversationID, message.role.rawValue, message.content, toolCalls, message.toolCallID,
                message.toolName, inboxID, runID, AppDatabase.nowMilliseconds(),
            ])
    }

    /// Removes what earlier attempts at inbox row `inboxID` left besides the user message (an attempt cut short by
    /// a crash or a stop leaves its assistant and tool messages), so the retry's turns replace them.
    public static func discardEarlierAttempts(_ db: Database, inboxID: Int64, keepingRun runID: String) throws {
        try db.executeCached(
            sql: "DELETE FROM messages WHERE inbox_id = ? AND role <> 'user' AND run_id IS NOT ?",
            arguments: [inboxID, runID])
    }

    /// The last `limit` messages of a conversation, oldest first, excluding those of inbox row `excludingInbox`;
    /// then made whole for the chat-completions API (`wellFormed`).
    public func recent(conversationID: String, limit: Int, excludingInbox: Int64? = nil) throws -> [ConversationMessage]
    {
        guard limit > 0 else { return [] }
        return try database.pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT role, content, tool_calls, tool_call_id, tool_name FROM messages
                    WHERE conversation_id = ? AND (inbox_id IS NULL OR inbox_id IS NOT ?) AND role <> 'system'
                    ORDER BY id DESC LIMIT ?
                    """,
                arguments: [conversationID, excludingInbox, limit])
            let messages = rows.reversed().compactMap { row -> ConversationMessage? in
                guard let role = ConversationMessage.Role(rawValue: row["role"]) else { return nil }
                let calls = (row["tool_calls"] as String?).flatMap {
                    try? JSONDecoder().decode([StoredToolCall].self, from: Data($0.utf8))
                }
                return ConversationMessage(
                    role: role, content: row["content"], toolCalls: calls ?? [], toolCallID: row["tool_call_id"],
                    toolName: row["tool_name"])
            }
            return Self.wellFormed(messages)
        }
    }

    /// History as the chat-completions API accepts it: every tool call of an assistant message answered by a
    /// `tool` message, and every `tool` message answering a call just before it. A window that starts in the
    /// middle of a tool turn, or a turn an interrupted run left unanswered, would otherwise be refused by the API:
    /// unanswered calls are dropped from their message (the message too when nothing is left), and orphaned
    /// results are dropped.
    public static func wellFormed(_ messages: [ConversationMessage]) -> [ConversationMessage] {
        var result: [ConversationMessage] = []
        var index = messages.startIndex
        while index < messages.endIndex {
            var message = messages[index]
            index += 1
            switch message.role {
            case .tool:
                continue  // not right after the assistant message that called it
            case .assistant where !message.toolCalls.isEmpty:
                // The results that follow it, each answering one of its calls, the first answer of each only.
                var results: [ConversationMessage] = []
                var unanswered = Set(message.toolCalls.map(\.id))
                while index < messages.endIndex, messages[index].role == .tool {
                    if let id = messages[index].toolCallID, unanswered.remove(id) != nil {
                        results.append(messages[index])
                    }
                    index += 1
                }
                message.toolCalls.removeAll { unanswered.contains($0.id) }
                if message.toolCalls.isEmpty && (message.content ?? "").isEmpty { continue }
                result.append(message)
                result += results
            default:
                result.append(message)
            }
        }
        return result
    }
}

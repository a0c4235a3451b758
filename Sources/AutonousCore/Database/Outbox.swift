import Foundation
import GRDB

/// One reply chunk waiting to be sent, or already sent.
public struct OutboxItem: Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var inboxID: Int64?
    public var conversationID: String
    public var chatID: Int64
    public var seq: Int
    public var text: String
    public var status: String
    public var attempts: Int
    public var telegramMessageID: Int64?
    /// The Bot API's reply_markup object to send with this chunk (inline buttons), or nil.
    public var replyMarkup: JSONValue?
    /// How Telegram is to read `text` (`parse_mode`), or nil for plain text.
    public var parseMode: OutboxParseMode?
    /// Why the chunk is sent as its visible text instead of with `parseMode` (Telegram's refusal), or nil.
    public var plainFallback: String?

    public init(row: Row) {
        id = row["id"]
        inboxID = row["inbox_id"]
        conversationID = row["conversation_id"]
        chatID = row["chat_id"]
        seq = row["seq"]
        text = row["text"]
        status = row["status"]
        attempts = row["attempts"]
        telegramMessageID = row["telegram_message_id"]
        // The column's CHECK keeps it valid JSON.
        replyMarkup = (row["reply_markup"] as String?).flatMap {
            try? JSONValue(parsing: $0)
        }
        // The column's CHECK keeps it one of the known modes.
        parseMode = (row["parse_mode"] as String?).flatMap(OutboxParseMode.init(rawValue:))
        plainFallback = row["plain_fallback"]
    }
}

/// The Bot API's `parse_mode` of a stored chunk.
public enum OutboxParseMode: String, Sendable {
    /// Telegram's HTML subset (b, i, s, a, code, pre, blockquote …).
    case html = "HTML"
}

/// Reply chunks with their sent state, so a restart neither loses nor repeats a chunk that Telegram accepted.
public struct Outbox: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Adds the chunks of one reply inside an existing transaction (the one that stores the reply message).
    /// `replyMarkup` (inline buttons) goes with the last chunk, so the buttons sit under the whole text;
    /// `parseMode` with every chunk (each must be complete markup on its own).
    public static func enqueue(
        _ db: Database, inboxID: Int64?, conversationID: String, chatID: Int64, chunks: [String],
        replyMarkup: JSONValue? = nil, parseMode: OutboxParseMode? = nil
    ) throws {
        let now = AppDatabase.nowMilliseconds()
        for (seq, chunk) in chunks.enumerated() {
            let markup = seq == chunks.count - 1 ? replyMarkup?.jsonText : nil
            try db.execute(
                sql: """
                    INSERT INTO outbox (
                        inbox_id, conversation_id, chat_id, seq, text, created_ms, reply_markup, parse_mode)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [inboxID, conversationID, chatID, seq, chunk, now, markup, parseMode?.rawValue])
        }
    }

    /// Records that Telegram refused the chunk's markup (`reason`): from now on it is sent as its visible text.
    public static func markPlainFallback(_ db: Database, _ id: Int64, reason: String) throws {
        try db.execute(sql: "UPDATE outbox SET plain_fallback = ? WHERE id = ?", arguments: [reason, id])
    }

    /// True when a reply for this inbox row has been stored (sent or not).
    public func hasReply(forInbox inboxID: Int64) throws -> Bool {
        try database.pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM outbox WHERE inbox_id = ?)", arguments: [inboxID])
                ?? false
        }
    }

    /// Unsent chunks of one inbox row, in order.
    public func pending(forInbox inboxID: Int64) throws -> [OutboxItem] {
        try database.pool.read { db in
            try OutboxItem.fetchAll(
                db, sql: "SELECT * FROM outbox WHERE inbox_id = ? AND status = 'pending' ORDER BY seq",
                arguments: [inboxID])
        }
    }

    /// Every unsent chunk, oldest first.
    public func allPending() throws -> [OutboxItem] {
        try database.pool.read { db in
            try OutboxItem.fetchAll(db, sql: "SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")
        }
    }

    /// How many chunks are neither sent nor failed.
    public func backlog() throws -> Int {
        try database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") ?? 0
        }
    }

    /// Records that Telegram accepted the chunk.
    public func markSent(_ id: Int64, telegramMessageID: Int64?) throws {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE outbox SET status = 'sent', attempts = attempts + 1, telegram_message_id = ?, sent_ms = ?,
                        error = NULL
                    WHERE id = ?
                    """,
                arguments: [telegramMessageID, AppDatabase.nowMilliseconds(), id])
        }
    }

    /// Records a failed send; the chunk stays pending unless `final`.
    public func markAttemptFailed(_ id: Int64, error: String, final: Bool) throws {
        try database.pool.write { db in
            try db.execute(
                sql: "UPDATE outbox SET attempts = attempts + 1, error = ?, status = ? WHERE id = ?",
                arguments: [error, final ? "failed" : "pending", id])
        }
    }
}

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
            try? JSONCoding.decoder.decode(JSONValue.self, from: Data($0.utf8))
        }
    }
}

/// Reply chunks with their sent state, so a restart neither loses nor repeats a chunk that Telegram accepted.
public struct Outbox: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Adds the chunks of one reply inside an existing transaction (the one that stores the reply message).
    /// `replyMarkup` (inline buttons) goes with the last chunk, so the buttons sit under the whole text.
    public static func enqueue(
        _ db: Database, inboxID: Int64?, conversationID: String, chatID: Int64, chunks: [String],
        replyMarkup: JSONValue? = nil
    ) throws {
        let now = AppDatabase.nowMilliseconds()
        for (seq, chunk) in chunks.enumerated() {
            let markup = seq == chunks.count - 1 ? replyMarkup?.jsonText : nil
            try db.execute(
                sql: """
                    INSERT INTO outbox (inbox_id, conversation_id, chat_id, seq, text, created_ms, reply_markup)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [inboxID, conversationID, chatID, seq, chunk, now, markup])
        }
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

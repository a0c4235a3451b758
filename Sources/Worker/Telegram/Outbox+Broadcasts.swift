import AutonousCore
import GRDB

/// Broadcasts in the outbox: chunks that answer no inbox row (`inbox_id` NULL), such as the supervisor's
/// "admins" notices. Their conversation id names the broadcast (`admins:<notice id>`), which makes storing one
/// idempotent.
extension Outbox {
    /// True when chunks of `conversationID` are stored already (sent or not); inside an existing transaction.
    static func hasBroadcast(_ db: Database, conversationID: String) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS(SELECT 1 FROM outbox WHERE inbox_id IS NULL AND conversation_id = ?)",
            arguments: [conversationID]) ?? false
    }

    /// Unsent broadcast chunks, oldest first (so each chat gets a broadcast's chunks in order).
    func pendingBroadcasts() throws -> [OutboxItem] {
        try database.pool.read { db in
            try OutboxItem.fetchAll(
                db, sql: "SELECT * FROM outbox WHERE inbox_id IS NULL AND status = 'pending' ORDER BY id")
        }
    }

    /// The sent broadcast chunks whose inline buttons include one with `callbackData` (every admin's copy of a
    /// staged update's message), oldest first: their chat and message ids are what an edit needs.
    func sentBroadcasts(withButton callbackData: String) throws -> [OutboxItem] {
        try database.pool.read { db in
            try OutboxItem.fetchAll(
                db,
                sql: """
                    SELECT * FROM outbox
                    WHERE inbox_id IS NULL AND status = 'sent' AND telegram_message_id IS NOT NULL
                        AND reply_markup IS NOT NULL
                        AND EXISTS (
                            SELECT 1 FROM json_tree(outbox.reply_markup)
                            WHERE json_tree.key = 'callback_data' AND json_tree.value = ?)
                    ORDER BY id
                    """,
                arguments: [callbackData])
        }
    }
}

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
}

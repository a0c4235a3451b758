import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// `w3-outbox-reply-markup`: an outbox chunk may carry inline buttons, and a worker database of the version before
/// keeps its chunks.
@Suite struct OutboxMarkupTests {
    static let keyboard: JSONValue = .object([
        "inline_keyboard": .array([.array([.object(["text": .string("Go"), "callback_data": .string("go")])])])
    ])

    @Test func aDatabaseOfThePreviousVersionGetsTheColumnAndKeepsItsChunks() throws {
        let fixture = try TemporaryDatabase()
        let path = fixture.directory + "/old.db"
        let queue = try DatabaseQueue(path: path)
        try AppDatabase.workerMigrator.migrate(queue, upTo: "w2-inbox-lanes")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO outbox (conversation_id, chat_id, seq, text, created_ms)
                    VALUES ('admins:n1', 11, 0, 'from before', 1)
                    """)
        }
        try queue.close()

        let database = try AppDatabase(path: path, role: .worker)
        let applied = try database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        }
        #expect(applied.contains("w3-outbox-reply-markup"))
        let pending = try Outbox(database: database).allPending()
        #expect(pending.map(\.text) == ["from before"])
        #expect(pending.first?.replyMarkup == nil)
    }

    @Test func theMarkupGoesWithTheLastChunkOnly() throws {
        let fixture = try TemporaryDatabase()
        try fixture.database.pool.write { db in
            try Outbox.enqueue(
                db, inboxID: nil, conversationID: "admins:n1", chatID: 11, chunks: ["one", "two"],
                replyMarkup: Self.keyboard)
            try Outbox.enqueue(db, inboxID: nil, conversationID: "admins:n2", chatID: 11, chunks: ["plain"])
        }
        let pending = try Outbox(database: fixture.database).allPending()
        #expect(pending.map(\.text) == ["one", "two", "plain"])
        #expect(pending.map(\.replyMarkup) == [nil, Self.keyboard, nil])
    }

    @Test func markupThatIsNotJSONIsRefused() throws {
        let fixture = try TemporaryDatabase()
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO outbox (conversation_id, chat_id, seq, text, created_ms, reply_markup)
                        VALUES ('c', 1, 0, 'x', 1, '{not json')
                        """)
            }
        }
    }
}

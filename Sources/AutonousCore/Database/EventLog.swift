import Foundation
import GRDB

/// Where an event sits in the tree: its parent, the agent run and the conversation it belongs to.
public struct EventContext: Sendable, Equatable {
    public var parentID: Int64?
    public var runID: String?
    public var conversationID: String?

    public init(parentID: Int64? = nil, runID: String? = nil, conversationID: String? = nil) {
        self.parentID = parentID
        self.runID = runID
        self.conversationID = conversationID
    }

    /// The same run and conversation, under a new parent.
    public func child(of parentID: Int64) -> EventContext {
        EventContext(parentID: parentID, runID: runID, conversationID: conversationID)
    }
}

/// One row of the append-only `events` table.
public struct EventRecord: Sendable, Codable, Equatable, FetchableRecord {
    public var id: Int64
    public var tsMs: Int64
    public var parentID: Int64?
    public var runID: String?
    public var conversationID: String?
    /// The type as recorded: a string, since an older database may hold a type `EventType` no longer lists.
    public var type: String
    public var payload: JSONValue

    /// The type as an `EventType`, or nil for a type this version does not know.
    public var knownType: EventType? { EventType(rawValue: type) }

    public init(row: Row) throws {
        id = row["id"]
        tsMs = row["ts_ms"]
        parentID = row["parent_id"]
        runID = row["run_id"]
        conversationID = row["conversation_id"]
        type = row["type"]
        let text: String = row["payload"]
        payload = (try? JSONValue(parsing: text)) ?? .string(text)
    }
}

/// Appends events and reads them back. Writes are their own transactions unless given a `Database`.
public struct EventLog: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Appends one event and returns its id.
    ///
    /// One INSERT in SQLite's autocommit mode, which makes it a transaction of its own (the statement, and the
    /// trigger it fires, commit together or not at all) without a BEGIN and a COMMIT to prepare and run.
    @discardableResult
    public func append(_ type: EventType, _ context: EventContext = EventContext(), payload: [String: JSONValue] = [:])
        throws -> Int64
    {
        try database.pool.writeWithoutTransaction { db in try Self.append(db, type, context, payload: payload) }
    }

    /// Appends inside an existing write transaction, so the event commits with the state change it describes.
    @discardableResult
    public static func append(
        _ db: Database, _ type: EventType, _ context: EventContext = EventContext(), payload: [String: JSONValue] = [:]
    ) throws -> Int64 {
        try db.executeCached(
            sql: """
                INSERT INTO events (ts_ms, parent_id, run_id, conversation_id, type, payload)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                AppDatabase.nowMilliseconds(), context.parentID, context.runID, context.conversationID, type.rawValue,
                JSONValue.object(payload).jsonText,
            ])
        return db.lastInsertedRowID
    }

    /// Events after `afterID`, oldest first, optionally of one run or with a type prefix. Without `afterID`, the
    /// log's own events: in the worker's log, those from `AppDatabase.workerEventIDBase` on (lower ids are its first
    /// row, which only holds the ids apart, and copies of an earlier version's events).
    public func events(afterID: Int64? = nil, runID: String? = nil, typePrefix: String? = nil, limit: Int = 1000)
        throws -> [EventRecord]
    {
        let floor = afterID ?? (database.role == .worker ? AppDatabase.workerEventIDBase - 1 : 0)
        return try database.pool.read { db in
            var sql = "SELECT * FROM events WHERE id > ?"
            var arguments: StatementArguments = [floor]
            if let runID {
                sql += " AND run_id = ?"
                arguments += [runID]
            }
            if let typePrefix {
                sql += " AND type LIKE ? ESCAPE '\\'"
                let escaped = typePrefix.replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                arguments += [escaped + "%"]
            }
            sql += " ORDER BY id LIMIT ?"
            arguments += [limit]
            return try EventRecord.fetchAll(db, sql: sql, arguments: arguments)
        }
    }
}

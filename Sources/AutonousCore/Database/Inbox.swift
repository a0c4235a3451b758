import GRDB

/// One stored incoming update (a Telegram update), with its processing state.
public struct InboxItem: Sendable, Equatable, FetchableRecord {
    /// Processing states; `in_progress` rows left by a dead worker are requeued at the next start.
    public enum Status: String, Sendable, Codable {
        case queued
        case inProgress = "in_progress"
        case done, failed
    }

    public var id: Int64
    public var updateID: Int64
    public var kind: String
    public var chatID: Int64?
    public var userID: Int64?
    public var text: String?
    public var payload: String
    public var status: Status
    public var attempts: Int
    public var outcome: String?
    public var error: String?
    public var runID: String?
    /// A queued row is not claimed before this time (milliseconds since the epoch; 0: at once). Set when a reply
    /// could not be delivered, so the retry waits out a backoff instead of spinning.
    public var notBeforeMs: Int64

    public init(row: Row) throws {
        id = row["id"]
        updateID = row["update_id"]
        kind = row["kind"]
        chatID = row["chat_id"]
        userID = row["user_id"]
        text = row["text"]
        payload = row["payload"]
        let statusText: String = row["status"]
        guard let status = Status(rawValue: statusText) else {
            throw AutonousError(.database, "inbox row \(id) has unknown status '\(statusText)'")
        }
        self.status = status
        attempts = row["attempts"]
        outcome = row["outcome"]
        error = row["error"]
        runID = row["run_id"]
        notBeforeMs = row["not_before_ms"]
    }
}

/// A new update to store.
public struct NewInboxItem: Sendable, Equatable {
    public var updateID: Int64
    public var kind: String
    public var chatID: Int64?
    public var userID: Int64?
    public var text: String?
    /// The update exactly as received, as JSON text.
    public var payload: String

    public init(updateID: Int64, kind: String, chatID: Int64?, userID: Int64?, text: String?, payload: String) {
        self.updateID = updateID
        self.kind = kind
        self.chatID = chatID
        self.userID = userID
        self.text = text
        self.payload = payload
    }
}

/// Counts of inbox rows by status, for status and heartbeats.
public struct InboxCounts: Sendable, Codable, Equatable {
    public var queued: Int
    public var inProgress: Int
    public var failed: Int
    public var done: Int

    public init(queued: Int = 0, inProgress: Int = 0, failed: Int = 0, done: Int = 0) {
        self.queued = queued
        self.inProgress = inProgress
        self.failed = failed
        self.done = done
    }
}

/// The durable queue of incoming updates. The Telegram poll offset is derived from it: an update is stored here
/// before the next `getUpdates` acknowledges it, so a crash between the two re-delivers instead of losing it.
public struct Inbox: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Stores updates that are not stored yet, in one transaction; returns the ones that were new.
    public func store(_ items: [NewInboxItem]) throws -> [NewInboxItem] {
        try database.pool.write { db in
            var inserted: [NewInboxItem] = []
            let now = AppDatabase.nowMilliseconds()
            for item in items {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO inbox
                            (update_id, kind, chat_id, user_id, text, payload, received_ms, updated_ms)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [item.updateID, item.kind, item.chatID, item.userID, item.text, item.payload, now, now])
                if db.changesCount > 0 { inserted.append(item) }
            }
            return inserted
        }
    }

    /// The offset for the next getUpdates: one past the highest stored update id, or nil when none is stored.
    public func nextOffset() throws -> Int64? {
        try database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(update_id) FROM inbox").map { $0 + 1 }
        }
    }

    /// Puts rows a previous worker left `in_progress` back in the queue; returns how many.
    public func requeueInterrupted() throws -> Int {
        try database.pool.write { db in
            try db.execute(
                sql: "UPDATE inbox SET status = 'queued', updated_ms = ? WHERE status = 'in_progress'",
                arguments: [AppDatabase.nowMilliseconds()])
            return db.changesCount
        }
    }

    /// Which rows a consumer takes: the out-of-band kinds (button presses and interrupts such as /cancel, answered
    /// at once even while a message of the same chat is being worked on) or everything else (one lane per chat, see
    /// `claimNext`).
    public enum Lane: Sendable {
        case messages, callbacks
    }

    /// The kind of a command that must not wait behind its chat's running message (/cancel, /status): it is
    /// stored under this kind and taken by the `.callbacks` lane.
    public static let interruptKind = "interrupt"

    /// The kind of the update Telegram sends when a user presses Stop on a streamed draft: it stops the chat's run,
    /// so it too is taken by the `.callbacks` lane.
    public static let generationStoppedKind = "stopped_message_generation"

    /// The kinds the `.callbacks` lane takes, as an SQL list.
    static let outOfBandKinds = "('callback_query', '\(interruptKind)', '\(generationStoppedKind)')"

    /// Takes the next row of `lane`, marks it in progress and counts the attempt, in one statement of one write
    /// transaction, so two claimers can never take the same row or two rows of one chat.
    ///
    /// - `.messages`: the queued message with the lowest update_id among chats that have no message in progress,
    ///   taking from each chat only its oldest queued message, and only once its `notBeforeMs` has passed (a chat
    ///   whose oldest message waits out a backoff yields nothing, so its later messages cannot overtake it). Rows
    ///   without a chat are each a lane of their own. Callback queries neither count nor block here.
    /// - `.callbacks`: the oldest queued callback query, interrupting command or draft stop, whatever its chat.
    ///
    /// - Parameter now: the time compared with `notBeforeMs` (milliseconds since the epoch).
    /// - Returns: the claimed row, or nil when nothing can be claimed now.
    public func claimNext(runID: String, lane: Lane = .messages, now: Int64 = AppDatabase.nowMilliseconds()) throws
        -> InboxItem?
    {
        let candidate: String
        switch lane {
        case .messages: candidate = Self.nextMessageSQL
        case .callbacks:
            candidate =
                "SELECT id FROM inbox WHERE status = 'queued' AND kind IN \(Self.outOfBandKinds) ORDER BY id LIMIT 1"
        }
        return try database.pool.write { db in
            try InboxItem.fetchOne(
                db,
                sql: """
                    UPDATE inbox SET status = 'in_progress', attempts = attempts + 1, run_id = :run, updated_ms = :now
                    WHERE id = (\(candidate))
                    RETURNING *
                    """,
                arguments: ["run": runID, "now": now])
        }
    }

    /// The id of the message row `claimNext(lane: .messages)` takes, given `:now`.
    static let nextMessageSQL = """
        SELECT q.id FROM inbox AS q
        WHERE q.status = 'queued' AND q.kind NOT IN \(outOfBandKinds) AND q.not_before_ms <= :now
            AND NOT EXISTS (
                SELECT 1 FROM inbox AS o
                WHERE o.chat_id = q.chat_id AND o.kind NOT IN \(outOfBandKinds)
                    AND (o.status = 'in_progress' OR (o.status = 'queued' AND o.update_id < q.update_id)))
        ORDER BY q.update_id
        LIMIT 1
        """

    /// Puts a claimed row back in the queue, not to be claimed before `notBefore`; inside an existing transaction.
    public static func postpone(_ db: Database, _ id: Int64, until notBefore: Int64, now: Int64) throws {
        try db.execute(
            sql: "UPDATE inbox SET status = 'queued', not_before_ms = ?, updated_ms = ? WHERE id = ?",
            arguments: [notBefore, now, id])
    }

    /// The earliest time after `now` at which a postponed message row becomes claimable, or nil when none waits.
    public func nextPostponed(after now: Int64) throws -> Int64? {
        try database.pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(not_before_ms) FROM inbox
                    WHERE status = 'queued' AND kind NOT IN \(Self.outOfBandKinds) AND not_before_ms > ?
                    """,
                arguments: [now])
        }
    }

    /// Ends processing of a row: `done` or `failed`, with a short outcome word and the error if any.
    public func finish(_ id: Int64, status: InboxItem.Status, outcome: String, error: String? = nil) throws {
        try database.pool.write { db in try Self.finish(db, id, status: status, outcome: outcome, error: error) }
    }

    /// `finish` inside an existing transaction.
    public static func finish(_ db: Database, _ id: Int64, status: InboxItem.Status, outcome: String, error: String?)
        throws
    {
        try db.execute(
            sql: "UPDATE inbox SET status = ?, outcome = ?, error = ?, updated_ms = ? WHERE id = ?",
            arguments: [status.rawValue, outcome, error, AppDatabase.nowMilliseconds(), id])
    }

    /// Row counts by status.
    public func counts() throws -> InboxCounts {
        try database.pool.read { db in
            var counts = InboxCounts()
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM inbox GROUP BY status") {
                let n: Int = row["n"]
                switch row["status"] as String {
                case "queued": counts.queued = n
                case "in_progress": counts.inProgress = n
                case "failed": counts.failed = n
                case "done": counts.done = n
                default: break
                }
            }
            return counts
        }
    }

    /// When the oldest message still waiting for its answer (queued or in progress) arrived, in Unix
    /// milliseconds; nil when none waits. Button presses do not count.
    public func oldestUnansweredMs() throws -> Int64? {
        try database.pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(received_ms) FROM inbox
                    WHERE status IN ('queued', 'in_progress') AND kind NOT IN \(Self.outOfBandKinds)
                    """)
        }
    }

    /// One row by id.
    public func item(_ id: Int64) throws -> InboxItem? {
        try database.pool.read { db in
            try InboxItem.fetchOne(db, sql: "SELECT * FROM inbox WHERE id = ?", arguments: [id])
        }
    }
}

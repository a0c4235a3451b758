import GRDB

/// The log an event was read from.
public enum EventSource: String, Codable, Sendable {
    /// `autonous.db`, written by the supervisor (and the legacy events of an earlier version).
    case supervisor
    /// `worker/worker.db`, written by the worker (ids from `AppDatabase.workerEventIDBase` on).
    case worker
}

/// A position in both logs: the last event id read from each (0 before any).
///
/// Exact because each log's ids grow in commit order (SQLite has one writer and the logs are append-only): the
/// events after a cursor are those with a higher id in their own log, whatever their times.
public struct EventCursor: Codable, Sendable, Equatable {
    public var supervisor: Int64
    public var worker: Int64

    public init(supervisor: Int64 = 0, worker: Int64 = 0) {
        self.supervisor = supervisor
        self.worker = worker
    }
}

/// Which events a reader wants; every condition set must hold.
public struct EventQuery: Sendable, Equatable {
    /// Only events at or after this time (Unix milliseconds).
    public var sinceMs: Int64?
    public var types: EventTypeFilter
    public var runID: String?
    public var conversationID: String?

    public init(
        sinceMs: Int64? = nil, types: EventTypeFilter = EventTypeFilter(), runID: String? = nil,
        conversationID: String? = nil
    ) {
        self.sinceMs = sinceMs
        self.types = types
        self.runID = runID
        self.conversationID = conversationID
    }
}

/// One event with the log it came from.
public struct SourcedEvent: Sendable, Equatable {
    public var source: EventSource
    public var event: EventRecord

    public init(source: EventSource, event: EventRecord) {
        self.source = source
        self.event = event
    }
}

/// Events of both logs, oldest first, and the cursor to read on from.
public struct EventPage: Sendable, Equatable {
    public var events: [SourcedEvent]
    public var cursor: EventCursor

    public init(events: [SourcedEvent], cursor: EventCursor) {
        self.events = events
        self.cursor = cursor
    }
}

/// Both event logs read as one: the supervisor's `autonous.db` and the worker's `worker.db`, merged by time.
///
/// Each log is read in id order (its commit order) and the two are interleaved by `(ts_ms, id)`, so a page is
/// always a prefix of each log after the cursor and the cursor stays exact. From the worker's database only ids
/// from `AppDatabase.workerEventIDBase` on are read: lower ids there are the log's first row (`event_log.created`,
/// which only holds its ids apart) and copies of the legacy events that stayed in autonous.db when an earlier
/// version's state directory was split.
public struct MergedEventLog: Sendable {
    public let supervisor: AppDatabase
    /// The worker's database, or nil while no worker has created it.
    public let worker: @Sendable () throws -> AppDatabase?

    public init(supervisor: AppDatabase, worker: @escaping @Sendable () throws -> AppDatabase?) {
        self.supervisor = supervisor
        self.worker = worker
    }

    /// The most recent `limit` events that match, oldest first, and a cursor at the end of both logs.
    public func latest(_ query: EventQuery, limit: Int) throws -> EventPage {
        let start = EventCursor()
        let sup = try Self.read(supervisor, query, after: start.supervisor, newest: true, limit: limit)
        let work = try worker().map {
            try Self.read($0, query, after: Self.workerFloor(start.worker), newest: true, limit: limit)
        }
        let merged = Self.merge(sup.events, work?.events ?? [])
        return EventPage(
            events: Array(merged.suffix(limit)),
            cursor: EventCursor(supervisor: sup.lastID ?? start.supervisor, worker: work?.lastID ?? start.worker))
    }

    /// The first `limit` matching events after `cursor`, oldest first, and the cursor after them.
    public func after(_ cursor: EventCursor, _ query: EventQuery, limit: Int) throws -> EventPage {
        let sup = try Self.read(supervisor, query, after: cursor.supervisor, newest: false, limit: limit)
        let work = try worker().map {
            try Self.read($0, query, after: Self.workerFloor(cursor.worker), newest: false, limit: limit)
        }
        let page = Array(Self.merge(sup.events, work?.events ?? []).prefix(limit))
        func next(_ source: EventSource, _ read: Read?, _ old: Int64) -> Int64 {
            guard let read else { return old }
            let taken = page.filter { $0.source == source }
            // Everything this log had after the cursor was taken: read on from its end, past what did not match.
            if taken.count == read.events.count && read.events.count < limit { return read.lastID ?? old }
            return taken.last?.event.id ?? old
        }
        return EventPage(
            events: page,
            cursor: EventCursor(
                supervisor: next(.supervisor, sup, cursor.supervisor), worker: next(.worker, work, cursor.worker)))
    }

    private static func workerFloor(_ cursor: Int64) -> Int64 { max(cursor, AppDatabase.workerEventIDBase - 1) }

    /// What one log gave: matching events in id order, and the highest id it held after the floor (nil for none),
    /// both from one read transaction.
    private struct Read {
        var events: [SourcedEvent]
        var lastID: Int64?
    }

    private static func read(_ database: AppDatabase, _ query: EventQuery, after floor: Int64, newest: Bool, limit: Int)
        throws -> Read
    {
        let source: EventSource = database.role == .worker ? .worker : .supervisor
        return try database.pool.read { db in
            // The ids to read: after the floor, and for one run of the worker's within the span its `runs` row
            // records. The worker's log has no run index; its read walks the rowid from the run's first id to its
            // last. An id no run started with (an update the commander answered itself) is looked for everywhere.
            var (lower, upper) = (floor, Int64.max)
            if let run = query.runID, database.role == .worker, let span = try RunLog.fetch(db, id: run)?.eventIDs {
                lower = max(floor, span.lowerBound - 1)
                upper = span.upperBound
            }
            var sql = "SELECT * FROM events WHERE id > ? AND id <= ?"
            var arguments: StatementArguments = [lower, upper]
            if let since = query.sinceMs {
                sql += " AND ts_ms >= ?"
                arguments += [since]
            }
            if let run = query.runID {
                sql += " AND run_id = ?"
                arguments += [run]
            }
            if let conversation = query.conversationID {
                sql += " AND conversation_id = ?"
                arguments += [conversation]
            }
            if let types = query.types.sqlCondition {
                sql += " AND " + types.sql
                arguments += types.arguments
            }
            sql += newest ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id LIMIT ?"
            arguments += [limit]
            var records = try EventRecord.fetchAll(db, sql: sql, arguments: arguments)
            if newest { records.reverse() }
            let last = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events WHERE id > ?", arguments: [floor])
            return Read(events: records.map { SourcedEvent(source: source, event: $0) }, lastID: last)
        }
    }

    /// Interleaves two logs, each in id order, by `(ts_ms, id)`; each log's own order is kept.
    static func merge(_ first: [SourcedEvent], _ second: [SourcedEvent]) -> [SourcedEvent] {
        var merged: [SourcedEvent] = []
        merged.reserveCapacity(first.count + second.count)
        var (i, j) = (0, 0)
        while i < first.count, j < second.count {
            let (a, b) = (first[i].event, second[j].event)
            if (a.tsMs, a.id) <= (b.tsMs, b.id) {
                merged.append(first[i])
                i += 1
            } else {
                merged.append(second[j])
                j += 1
            }
        }
        merged += first[i...]
        merged += second[j...]
        return merged
    }
}

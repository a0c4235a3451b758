import Foundation
import GRDB

/// One approval: a request for an admin's decision on an exact action (a tool with its arguments), which expires.
public struct Approval: Sendable, Codable, Equatable, FetchableRecord {
    public enum Status: String, Sendable, Codable {
        case pending, approved, rejected, expired
    }

    /// Where a decision came from.
    public enum Channel: String, Sendable, Codable {
        case telegram, autonousctl, timeout
    }

    public var id: String
    public var kind: String
    /// The tool name (or, for updates, the transaction).
    public var subject: String
    /// The exact arguments, as canonical JSON text (sorted keys), and their SHA-256.
    public var arguments: String
    public var argumentsSHA256: String
    public var tier: String?
    /// What the admin is asked, in one or a few lines.
    public var summary: String
    public var runID: String?
    public var conversationID: String?
    /// The `approval.requested` event.
    public var eventID: Int64?
    public var status: Status
    public var createdMs: Int64
    public var expiresMs: Int64
    public var decidedMs: Int64?
    public var decidedBy: String?
    public var decidedVia: Channel?

    public init(row: Row) throws {
        id = row["id"]
        kind = row["kind"]
        subject = row["subject"]
        arguments = row["arguments"]
        argumentsSHA256 = row["arguments_sha256"]
        tier = row["tier"]
        summary = row["summary"]
        runID = row["run_id"]
        conversationID = row["conversation_id"]
        eventID = row["event_id"]
        let statusText: String = row["status"]
        guard let status = Status(rawValue: statusText) else {
            throw AutonousError(.database, "approval \(id) has unknown status '\(statusText)'")
        }
        self.status = status
        createdMs = row["created_ms"]
        expiresMs = row["expires_ms"]
        decidedMs = row["decided_ms"]
        decidedBy = row["decided_by"]
        decidedVia = (row["decided_via"] as String?).flatMap(Channel.init(rawValue:))
    }
}

/// A chat message that announced an approval (so it can be updated once decided).
public struct ApprovalNotice: Sendable, Codable, Equatable {
    public var chatID: Int64
    public var messageID: Int64

    public init(chatID: Int64, messageID: Int64) {
        self.chatID = chatID
        self.messageID = messageID
    }
}

/// What happened to a decision request.
public enum ApprovalDecision: Sendable, Equatable {
    /// The decision was recorded; the approval in its new state.
    case decided(Approval)
    case notFound
    /// Someone decided first (or it expired earlier); the approval as it is.
    case alreadyDecided(Approval)
    /// The deadline passed before this decision; it is now recorded as expired.
    case expired(Approval)
}

/// The `approvals` table: created by the worker when a policy says `ask`, decided by an admin through Telegram or
/// autonousctl, or expired at its deadline. Every state change commits together with its event.
public struct Approvals: Sendable {
    public let database: AppDatabase

    public init(database: AppDatabase) {
        self.database = database
    }

    /// Characters of approval ids: lowercase letters and digits without the look-alikes 0/o and 1/l/i.
    static let idAlphabet = Array("23456789abcdefghjkmnpqrstuvwxyz")

    /// A new random id of 8 characters (about 39 bits), easy to type into `autonousctl approve`.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0 ..< 8).map { _ in idAlphabet[Int(generator.next(upperBound: UInt(idAlphabet.count)))] })
    }

    /// True when `text` could be an approval id (checked before any query, so errors can say what is wrong).
    public static func isWellFormedID(_ text: String) -> Bool {
        (4 ... 32).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
    }

    /// Canonical JSON text of `arguments` (compact, sorted keys: `jsonText`) and its SHA-256, which bind an approval to exact arguments.
    public static func canonical(_ arguments: JSONValue) -> (text: String, sha256: String) {
        let text = arguments.jsonText
        return (text, SHA256.hex(Array(text.utf8)))
    }

    /// Records a pending approval and its `approval.requested` event (under `context`) in one transaction.
    public func create(
        kind: String, subject: String, arguments: JSONValue, tier: String?, summary: String, lifetime: Duration,
        context: EventContext, now: Int64 = AppDatabase.nowMilliseconds()
    ) throws -> Approval {
        let (text, digest) = Self.canonical(arguments)
        let expires = now + max(lifetime.wholeMilliseconds, 1)
        return try database.pool.write { db in
            var id = Self.newID()
            while try Bool.fetchOne(db, sql: "SELECT 1 FROM approvals WHERE id = ?", arguments: [id]) == true {
                id = Self.newID()
            }
            let eventID = try EventLog.append(
                db, .approvalRequested, context,
                payload: [
                    "approval_id": .string(id), "kind": .string(kind), "subject": .string(subject),
                    "tier": tier.map { .string($0) } ?? .null, "arguments_sha256": .string(digest),
                    "expires_ms": .int(expires),
                ])
            try db.execute(
                sql: """
                    INSERT INTO approvals (id, kind, subject, arguments, arguments_sha256, tier, summary, run_id,
                        conversation_id, event_id, created_ms, expires_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, kind, subject, text, digest, tier, summary, context.runID, context.conversationID, eventID,
                    now, expires,
                ])
            guard let approval = try Self.fetch(db, id) else {
                throw AutonousError(.database, "approval \(id) vanished right after its insert")
            }
            return approval
        }
    }

    /// One approval by id.
    public func approval(_ id: String) throws -> Approval? {
        try database.pool.read { db in try Self.fetch(db, id) }
    }

    /// Pending approvals whose deadline has not passed, oldest first.
    public func pending(now: Int64 = AppDatabase.nowMilliseconds()) throws -> [Approval] {
        try database.pool.read { db in
            try Approval.fetchAll(
                db, sql: "SELECT * FROM approvals WHERE status = 'pending' AND expires_ms > ? ORDER BY created_ms",
                arguments: [now])
        }
    }

    /// Approves or rejects a pending approval. Only one decision ever wins: the update is conditional on the row
    /// still being pending, and a decision after the deadline records the expiry instead.
    public func decide(
        _ id: String, approve: Bool, by decider: String, via channel: Approval.Channel,
        now: Int64 = AppDatabase.nowMilliseconds()
    ) throws -> ApprovalDecision {
        try database.pool.write { db in
            guard let current = try Self.fetch(db, id) else { return .notFound }
            guard current.status == .pending else { return .alreadyDecided(current) }
            if now >= current.expiresMs {
                return .expired(try Self.expire(db, current, now: now))
            }
            let status: Approval.Status = approve ? .approved : .rejected
            return .decided(try Self.settle(db, current, as: status, by: decider, via: channel, now: now))
        }
    }

    /// Marks a still-pending approval expired (its waiter gave up at the deadline); returns the final state, which
    /// is the earlier decision when one won the race.
    public func expire(_ id: String, now: Int64 = AppDatabase.nowMilliseconds()) throws -> Approval? {
        try database.pool.write { db in
            guard let current = try Self.fetch(db, id) else { return nil }
            guard current.status == .pending else { return current }
            return try Self.expire(db, current, now: now)
        }
    }

    /// Expires every pending approval: called when a worker starts, since the waiters of a previous worker are gone
    /// and nothing would run if one were approved now (the interrupted message is answered again and asks anew).
    /// Returns the approvals it expired.
    public func expireAbandoned(now: Int64 = AppDatabase.nowMilliseconds()) throws -> [Approval] {
        try database.pool.write { db in
            let pending = try Approval.fetchAll(db, sql: "SELECT * FROM approvals WHERE status = 'pending'")
            return try pending.map { try Self.expire(db, $0, now: now) }
        }
    }

    /// Remembers the chat messages that announced the approval.
    public func recordNotices(_ id: String, _ notices: [ApprovalNotice]) throws {
        let text = String(decoding: try JSONCoding.encoder.encode(notices), as: UTF8.self)
        try database.pool.write { db in
            try db.execute(sql: "UPDATE approvals SET notices = ? WHERE id = ?", arguments: [text, id])
        }
    }

    /// The chat messages that announced the approval.
    public func notices(_ id: String) throws -> [ApprovalNotice] {
        let text = try database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT notices FROM approvals WHERE id = ?", arguments: [id])
        }
        guard let text else { return [] }
        return (try? JSONCoding.decoder.decode([ApprovalNotice].self, from: Data(text.utf8))) ?? []
    }

    private static func expire(_ db: Database, _ current: Approval, now: Int64) throws -> Approval {
        try settle(db, current, as: .expired, by: "timeout", via: .timeout, now: now)
    }

    /// Ends a pending approval (the UPDATE is conditional on it still being pending) and records the decision
    /// event under the request's event, in the same transaction.
    private static func settle(
        _ db: Database, _ current: Approval, as status: Approval.Status, by decider: String,
        via channel: Approval.Channel, now: Int64
    ) throws -> Approval {
        try db.execute(
            sql: """
                UPDATE approvals SET status = ?, decided_ms = ?, decided_by = ?, decided_via = ?
                WHERE id = ? AND status = 'pending'
                """,
            arguments: [status.rawValue, now, decider, channel.rawValue, current.id])
        try EventLog.append(
            db, .approvalDecided, context(of: current),
            payload: [
                "approval_id": .string(current.id), "decision": .string(status.rawValue), "by": .string(decider),
                "via": .string(channel.rawValue),
            ])
        return try fetch(db, current.id) ?? current
    }

    private static func fetch(_ db: Database, _ id: String) throws -> Approval? {
        try Approval.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id])
    }

    /// Decision events go under the request's event, in the same run and conversation.
    private static func context(of approval: Approval) -> EventContext {
        EventContext(parentID: approval.eventID, runID: approval.runID, conversationID: approval.conversationID)
    }
}

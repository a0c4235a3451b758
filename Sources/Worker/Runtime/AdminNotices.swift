import AutonousCore
import Foundation
import Logging

/// Handles the supervisor's "admins" notices (why a revision was reverted, say): the text goes to every Telegram
/// admin (a private chat's id is the user's id) through the outbox, so a restart neither loses nor repeats it;
/// `BroadcastCourier` sends it. Without Telegram, or without admins, the text is logged at notice level instead.
/// The supervisor expects no answer.
struct AdminNotices: Sendable {
    let database: AppDatabase
    /// AUTONOUS_TELEGRAM_ADMINS; empty, or `telegramEnabled` false: log only.
    let admins: [Int64]
    let telegramEnabled: Bool
    let parentEventID: Int64?
    /// Rung after a broadcast is stored, to wake the courier.
    let doorbell: Doorbell?
    let logger: Logger

    /// What became of one notice.
    enum Outcome: Equatable {
        /// Stored for `admins` chats.
        case queued(admins: Int)
        /// A notice with this id was stored before (the supervisor sent it again).
        case duplicate
        /// Telegram is off or there are no admins: logged.
        case logged
        /// No text, or the database failed: logged as an error.
        case dropped
    }

    static let eventType = "admins.notice"

    @discardableResult
    func handle(_ notice: WorkerInterface.Notice) -> Outcome {
        guard let text = notice.text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            logger.warning("an admins notice without text; ignored", metadata: ["notice.id": "\(notice.id ?? "none")"])
            return .dropped
        }
        guard telegramEnabled, !admins.isEmpty else {
            logger.notice(
                "message for the Telegram admins (not sent: Telegram is off or has no admins)",
                metadata: ["notice.id": "\(notice.id ?? "none")", "notice.text": "\(text)"])
            return .logged
        }
        // Without an id the supervisor cannot resend it, so there is nothing to deduplicate against.
        let conversationID = "admins:" + (notice.id ?? UUID().uuidString.lowercased())
        let chunks = MessageSplitter.split(text)
        do {
            let stored = try database.pool.write { [admins, parentEventID] db -> Bool in
                guard try !Outbox.hasBroadcast(db, conversationID: conversationID) else { return false }
                for admin in admins {
                    try Outbox.enqueue(db, inboxID: nil, conversationID: conversationID, chatID: admin, chunks: chunks)
                }
                try EventLog.append(
                    db, Self.eventType, EventContext(parentID: parentEventID, conversationID: conversationID),
                    payload: [
                        "notice_id": notice.id.map { .string($0) } ?? .null, "admins": .int(Int64(admins.count)),
                        "chunks": .int(Int64(chunks.count)),
                    ])
                return true
            }
            guard stored else {
                logger.notice(
                    "an admins notice arrived again; already queued", metadata: ["notice.id": "\(notice.id ?? "none")"])
                return .duplicate
            }
        } catch {
            logger.error(
                "cannot queue a message for the Telegram admins",
                metadata: ["notice.id": "\(notice.id ?? "none")", "notice.text": "\(text)", "error": "\(error)"])
            return .dropped
        }
        doorbell?.ring()
        return .queued(admins: admins.count)
    }
}

import AutonousCore
import Foundation
import Logging

/// Handles the supervisor's "admins" notices (why a revision was reverted, say): the text goes to every Telegram
/// admin (a private chat's id is the user's id) through the outbox, so a restart neither loses nor repeats it;
/// `BroadcastCourier` sends it. Without Telegram, or without admins, the text is logged at notice level instead.
/// The supervisor expects no answer.
///
/// A notice about a staged self-update (`updateTx` and `updateSha256` set) gets Approve and Reject buttons under its
/// last chunk (`UpdateButton`), whose presses `CallbackDesk` relays to the supervisor. A malformed tx or sha256 is
/// logged as an error and the text goes out without buttons: the admins still hear of the update, and can decide
/// with autonousctl.
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

    static let eventType = EventType.adminsNotice

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
        let keyboard = buttons(notice)
        let outcome = store(
            text, to: admins, conversationID: conversationID, replyMarkup: keyboard, eventType: Self.eventType,
            payload: [
                "notice_id": notice.id.map { .string($0) } ?? .null, "admins": .int(Int64(admins.count)),
                "update_tx": notice.updateTx.map { .string($0) } ?? .null, "buttons": .bool(keyboard != nil),
            ], notice: notice)
        return outcome
    }

    static let tellEventType = EventType.tellNotice

    /// Handles a "tell" notice: its text goes to the one Telegram user its conversation names (`telegram:<id>`,
    /// such as whoever proposed a self-update), through the outbox like an admins notice. A user who is not in
    /// `allowedUsers` (AUTONOUS_TELEGRAM_ALLOWED_USERS) gets nothing: the worker writes only to chats it serves.
    @discardableResult
    func tell(_ notice: WorkerInterface.Notice, allowedUsers: [Int64]) -> Outcome {
        guard let text = notice.text, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty,
            let conversation = notice.conversation, conversation.hasPrefix("telegram:"),
            let user = Int64(conversation.dropFirst("telegram:".count))
        else {
            logger.warning(
                "a tell notice without text or a telegram:<user id> conversation; ignored",
                metadata: [
                    "notice.id": "\(notice.id ?? "none")", "notice.conversation": "\(notice.conversation ?? "")",
                ])
            return .dropped
        }
        guard telegramEnabled, allowedUsers.contains(user) else {
            logger.notice(
                "message for a Telegram user (not sent: Telegram is off or the user is not allowed)",
                metadata: ["notice.id": "\(notice.id ?? "none")", "telegram.user": "\(user)", "notice.text": "\(text)"])
            return .logged
        }
        return store(
            text, to: [user], conversationID: "tell:" + (notice.id ?? UUID().uuidString.lowercased()), replyMarkup: nil,
            eventType: Self.tellEventType,
            payload: ["notice_id": notice.id.map { .string($0) } ?? .null, "user_id": .int(user)], notice: notice)
    }

    /// Stores `text` for each chat of `chats` once per `conversationID` (a notice sent again is a duplicate), with
    /// its event, and rings the courier.
    private func store(
        _ text: String, to chats: [Int64], conversationID: String, replyMarkup: JSONValue?, eventType: EventType,
        payload: [String: JSONValue], notice: WorkerInterface.Notice
    ) -> Outcome {
        let chunks = MessageSplitter.split(text)
        var payload = payload
        payload["chunks"] = .int(Int64(chunks.count))
        do {
            let stored = try database.pool.write { [parentEventID, payload] db -> Bool in
                guard try !Outbox.hasBroadcast(db, conversationID: conversationID) else { return false }
                for chat in chats {
                    try Outbox.enqueue(
                        db, inboxID: nil, conversationID: conversationID, chatID: chat, chunks: chunks,
                        replyMarkup: replyMarkup)
                }
                try EventLog.append(
                    db, eventType, EventContext(parentID: parentEventID, conversationID: conversationID),
                    payload: payload)
                return true
            }
            guard stored else {
                logger.notice(
                    "a notice arrived again; already queued",
                    metadata: ["notice.id": "\(notice.id ?? "none")", "notice.kind": "\(notice.kind)"])
                return .duplicate
            }
        } catch {
            logger.error(
                "cannot queue a message for Telegram",
                metadata: ["notice.id": "\(notice.id ?? "none")", "notice.text": "\(text)", "error": "\(error)"])
            return .dropped
        }
        doorbell?.ring()
        return .queued(admins: chats.count)
    }

    /// The Approve and Reject buttons of a staged self-update's notice; nil for any other notice, and for one whose
    /// tx or sha256 is malformed (logged).
    func buttons(_ notice: WorkerInterface.Notice) -> JSONValue? {
        guard notice.updateTx != nil || notice.updateSha256 != nil else { return nil }
        if let tx = notice.updateTx, let sha256 = notice.updateSha256,
            let keyboard = UpdateButton.keyboard(tx: tx, sha256: sha256)
        {
            return keyboard
        }
        logger.error(
            "a staged update's notice names a malformed transaction or sha256; sent without buttons",
            metadata: [
                "notice.id": "\(notice.id ?? "none")", "tx": "\(notice.updateTx?.prefix(40) ?? "none")",
                "update.sha256": "\(notice.updateSha256?.prefix(80) ?? "none")",
            ])
        return nil
    }
}

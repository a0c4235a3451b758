import AutonousCore
import Foundation
import Logging

/// Announces approvals to the Telegram admins: one message each with Approve and Deny buttons
/// (`approval:<id>:approve|reject`, answered by `CallbackDesk`), edited to the outcome afterwards.
struct TelegramApprovalAnnouncer: ApprovalAnnouncer {
    let client: TelegramClient
    let admins: [Int64]
    let logger: Logger

    func announce(_ approval: Approval) async -> [ApprovalNotice] {
        let seconds = (approval.expiresMs - approval.createdMs) / 1000
        let text = String(
            ("Approval needed (\(approval.id)), \(approval.tier ?? approval.kind) tier:\n\(approval.summary)\n\n"
                + "Denied automatically in \(seconds) s. Or: autonousctl approve \(approval.id)").prefix(4000))
        let keyboard: JSONValue = .object([
            "inline_keyboard": .array([
                .array([
                    .object(["text": .string("Approve"), "callback_data": .string("approval:\(approval.id):approve")]),
                    .object(["text": .string("Deny"), "callback_data": .string("approval:\(approval.id):reject")]),
                ])
            ])
        ])
        var notices: [ApprovalNotice] = []
        for admin in admins {
            do {
                let result = try await client.call(
                    "sendMessage", ["chat_id": .int(admin), "text": .string(text), "reply_markup": keyboard],
                    timeout: .seconds(30))
                if let messageID = result["message_id"]?.intValue {
                    notices.append(ApprovalNotice(chatID: admin, messageID: messageID))
                }
            } catch {
                logger.error(
                    "cannot send an approval request to an admin",
                    metadata: [
                        "approval.id": "\(approval.id)", "telegram.chat_id": "\(admin)",
                        "error": "\(Redactor.shared.redact("\(error)"))",
                    ])
            }
        }
        return notices
    }

    func close(_ approval: Approval, notices: [ApprovalNotice]) async {
        let outcome =
            switch approval.status {
            case .approved: "Approved by \(approval.decidedBy ?? "an admin")."
            case .rejected: "Denied by \(approval.decidedBy ?? "an admin")."
            case .expired, .pending: "Expired without a decision: denied."
            }
        let text = String("Approval \(approval.id): \(approval.summary)".prefix(3900)) + "\n\n" + outcome
        for notice in notices {
            _ = try? await client.call(
                "editMessageText",
                ["chat_id": .int(notice.chatID), "message_id": .int(notice.messageID), "text": .string(text)],
                timeout: .seconds(30))
        }
    }
}

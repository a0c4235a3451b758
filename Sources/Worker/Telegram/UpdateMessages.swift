import AutonousCore
import Logging

/// The admins' copies of a staged self-update's message, the ones with Approve and Reject buttons: once the update
/// is decided (by a button, from the shell), expires or is superseded, each is edited to end with one sentence
/// saying so, and the edit takes its buttons away, so nobody presses a button that no longer decides anything.
struct UpdateMessages: Sendable {
    let client: TelegramClient
    let outbox: Outbox
    let logger: Logger

    /// Edits every sent message that carries `button` (either button of the pair names the same messages).
    func close(_ tx: String, _ button: UpdateButton, closing: String) async {
        let messages: [OutboxItem]
        do {
            messages = try outbox.sentBroadcasts(withButton: button.callbackData)
        } catch {
            logger.error("cannot read a staged update's messages", metadata: ["error": "\(error)"])
            return
        }
        for message in messages {
            guard let messageID = message.telegramMessageID else { continue }
            do {
                _ = try await client.call(
                    "editMessageText",
                    [
                        "chat_id": .int(message.chatID), "message_id": .int(messageID),
                        "text": .string(Self.closed(message.text, with: closing)),
                    ],
                    timeout: .seconds(30))
            } catch  where error.isNotModified {
                // Closed already (the notice came again after a restart).
            } catch {
                logger.warning(
                    "cannot edit a staged update's message",
                    metadata: [
                        "tx": "\(tx)", "telegram.chat_id": "\(message.chatID)",
                        "error": "\(Redactor.shared.redact(error.description))",
                    ])
            }
        }
    }

    /// Handles an `update_closed` notice from the supervisor; one that names no well-formed update is logged.
    func handle(_ notice: WorkerInterface.Notice) async {
        guard let tx = notice.updateTx, let sha256 = notice.updateSha256, let closing = notice.text,
            let button = UpdateButton(tx: tx, sha256: sha256, approve: true)
        else {
            logger.error(
                "an update_closed notice without a well-formed update; ignored",
                metadata: ["notice.id": "\(notice.id ?? "none")"])
            return
        }
        await close(tx, button, closing: closing)
    }

    /// `text`, then a blank line and `closing`, within Telegram's 4096 UTF-16 units (`text` is cut to fit).
    static func closed(_ text: String, with closing: String) -> String {
        let room = MessageSplitter.telegramLimit - closing.utf16.count - 2
        let kept = text.utf16.count <= room ? text : (MessageSplitter.split(text, limit: room).first ?? "")
        return kept + "\n\n" + closing
    }
}

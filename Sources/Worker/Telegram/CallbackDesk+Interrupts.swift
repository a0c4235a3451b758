import AutonousCore
import Foundation
import GRDB

/// What the desk needs for the interrupting chat commands (/cancel, /status), which it takes at once instead of
/// behind the chat's running message.
struct InterruptHandling: Sendable {
    /// AUTONOUS_TELEGRAM_ALLOWED_USERS: who may /cancel their chat's run.
    let allowedUsers: Set<Int64>
    let runs: ActiveRuns
    /// The short status an admin's /status gets.
    let status: @Sendable () -> String
}

extension CallbackDesk {
    /// The reply when /cancel finds nothing to stop.
    static let nothingToCancel = "Nothing is running in this chat."
    /// What a cancelled run answers.
    static let cancelledSentence = "Stopped: you sent /cancel. Your message and what was done so far are kept."
    /// What a run answers when the user pressed Stop on its draft.
    static let draftStoppedSentence = "Stopped: you pressed Stop. Your message and what was done so far are kept."

    /// Handles a Stop pressed on a streamed draft (`stopped_message_generation`): it stops the run that shows that
    /// draft, as /cancel would; a Stop that comes after its run ended stops nothing. Telegram shows the user that
    /// the draft stopped, so the desk sends nothing itself.
    func stopGeneration(_ item: InboxItem) {
        let context = EventContext(
            parentID: parentEventID, runID: item.runID, conversationID: item.chatID.map { "telegram:\($0)" })
        let update = try? JSONValue(parsing: item.payload)
        guard let interrupts, let chatID = item.chatID,
            let draftID = update?[Inbox.generationStoppedKind]?["draft_id"]?.intValue
        else {
            try? inbox.finish(item.id, status: .failed, outcome: "invalid_update", error: "no chat or draft_id")
            return
        }
        guard let userID = item.userID, interrupts.allowedUsers.contains(userID) else {
            _ = try? events.append(
                .telegramUpdateIgnored, context,
                payload: [
                    "update_id": .int(item.updateID), "kind": .string(item.kind), "chat_id": .int(chatID),
                    "reason": .string("sender is not in AUTONOUS_TELEGRAM_ALLOWED_USERS"),
                ])
            try? inbox.finish(item.id, status: .done, outcome: "ignored_not_allowed")
            return
        }
        let stop = StopRequest(reason: .cancelled, by: "telegram:\(userID)", sentence: Self.draftStoppedSentence)
        var outcome = "stop_after_run"
        if let runID = interrupts.runs.stop(chat: "telegram:\(chatID)", draftID: draftID, stop) {
            outcome = "cancel_sent"
            _ = try? events.append(
                .runCancelRequested, context,
                payload: [
                    "cancelled_run_id": .string(runID), "by": .string(stop.by), "via": .string("draft_stop"),
                    "draft_id": .int(draftID),
                ])
        }
        try? inbox.finish(item.id, status: .done, outcome: outcome)
    }

    /// Handles an interrupting command: /cancel stops the chat's run (the run answers with the reason; with no run,
    /// the desk says so), /status gives an admin the short status. Strangers are ignored and recorded.
    func interrupt(_ item: InboxItem) async {
        let context = EventContext(
            parentID: parentEventID, runID: item.runID, conversationID: item.chatID.map { "telegram:\($0)" })
        guard let interrupts, let chatID = item.chatID, let userID = item.userID,
            let command = item.text.flatMap(ChatCommand.parse), command.interrupts
        else {
            try? inbox.finish(item.id, status: .done, outcome: "unsupported_kind")
            return
        }
        var reply: String?
        var outcome: String
        switch command {
        case .cancel where interrupts.allowedUsers.contains(userID):
            let stop = StopRequest(reason: .cancelled, by: "telegram:\(userID)", sentence: Self.cancelledSentence)
            if let runID = interrupts.runs.stop(chat: "telegram:\(chatID)", stop) {
                outcome = "cancel_sent"
                _ = try? events.append(
                    .runCancelRequested, context,
                    payload: ["cancelled_run_id": .string(runID), "by": .string(stop.by)])
            } else {
                outcome = "nothing_to_cancel"
                reply = Self.nothingToCancel
            }
        case .status where admins.contains(userID):
            outcome = "status"
            reply = interrupts.status()
        case .cancel, .status, .new:
            outcome = "ignored_not_allowed"
            _ = try? events.append(
                .telegramUpdateIgnored, context,
                payload: [
                    "update_id": .int(item.updateID), "kind": .string(item.kind), "user_id": .int(userID),
                    "chat_id": .int(chatID),
                    "reason": .string(
                        command == .status
                            ? "/status is for AUTONOUS_TELEGRAM_ADMINS"
                            : "sender is not in AUTONOUS_TELEGRAM_ALLOWED_USERS"),
                ])
        }
        if let reply {
            do {
                _ = try await client.call(
                    "sendMessage", ["chat_id": .int(chatID), "text": .string(reply)], timeout: .seconds(30))
            } catch {
                logger.warning(
                    "cannot answer a chat command",
                    metadata: [
                        "command": "\(command.rawValue)", "error": "\(Redactor.shared.redact(error.description))",
                    ])
            }
        }
        try? inbox.finish(item.id, status: .done, outcome: outcome)
    }
}

import AutonousCore
import Foundation
import Logging
import ServiceLifecycle

/// Answers inline-button presses (callback queries) as soon as they are stored, apart from the message queue: an
/// admin's Approve or Deny must get through while the agent waits for exactly that decision.
///
/// The buttons' callback data (at most 64 bytes, Telegram's limit):
/// - `approval:<id>:approve|reject`, a tool approval (`TelegramApprovalAnnouncer`): from an admin
///   (AUTONOUS_TELEGRAM_ADMINS) it records the decision; from anyone else it changes nothing. The worker owns tool
///   approvals, so it decides.
/// - `u:<tx>:a|r:<sha256>`, a staged self-update (`AdminNotices`), the artifact's full sha256 as 43 characters of
///   unpadded base64url (`UpdateButton`, 59 bytes): relayed to the supervisor with DecideUpdate whoever pressed,
///   for the supervisor owns the decision and checks and records it (`UpdateDecisionRelay`). Once it is recorded,
///   every admin's copy of the message (the outbox knows their message ids) is edited to say who decided.
///
/// Every press is answered with answerCallbackQuery, so the button stops spinning, and recorded.
struct CallbackDesk: Service {
    let client: TelegramClient
    let inbox: Inbox
    let approvals: Approvals
    let events: EventLog
    let admins: Set<Int64>
    let parentEventID: Int64
    let doorbell: Doorbell
    /// Woken once a decision is recorded, so the waiting tool call goes on at once.
    let waiters: ApprovalWaiters
    /// Relays presses on staged self-updates' buttons.
    let updates: UpdateDecisionRelay
    /// Where the staged updates' messages were recorded as sent, with their message ids.
    let outbox: Outbox
    let logger: Logger
    /// /cancel and /status; without it such commands are left unhandled.
    var interrupts: InterruptHandling? = nil

    /// Telegram shows at most 200 characters of an answer to a press.
    static let answerLimit = 200

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                while !Task.isCancelled,
                    let item = try inbox.claimNext(runID: UUID().uuidString.lowercased(), lane: .callbacks)
                {
                    await answer(item)
                }
            } catch {
                // The database failed: try again after a second (the retry's delay, not a polling tick).
                logger.error("callback processing failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            // The poller rings after it stored an update; nothing else makes work for this desk. The timeout is
            // only a safety net.
            await doorbell.wait(timeout: .seconds(3600))
        }
    }

    /// The parts of a callback query this desk reads.
    struct Press: Equatable {
        var queryID: String
        var userID: Int64?
        var username: String?
        var data: String?
    }

    static func press(from payload: String) -> Press? {
        guard let update = try? JSONValue(parsing: payload),
            let query = update["callback_query"], let id = query["id"]?.stringValue
        else { return nil }
        return Press(
            queryID: id, userID: query["from"]?["id"]?.intValue, username: query["from"]?["username"]?.stringValue,
            data: query["data"]?.stringValue)
    }

    /// `approval:<id>:approve|reject` as (id, approve).
    static func approvalDecision(_ data: String?) -> (id: String, approve: Bool)? {
        guard let parts = data?.split(separator: ":", omittingEmptySubsequences: false), parts.count == 3,
            parts[0] == "approval", Approvals.isWellFormedID(String(parts[1])),
            parts[2] == "approve" || parts[2] == "reject"
        else { return nil }
        return (String(parts[1]), parts[2] == "approve")
    }

    private func answer(_ item: InboxItem) async {
        if item.kind == Inbox.interruptKind {
            await interrupt(item)
            return
        }
        if item.kind == Inbox.generationStoppedKind {
            stopGeneration(item)
            return
        }
        guard let press = Self.press(from: item.payload) else {
            try? inbox.finish(item.id, status: .failed, outcome: "invalid_callback", error: "no callback_query id")
            return
        }
        let context = EventContext(parentID: parentEventID, runID: item.runID)
        var reply = "This button is no longer active."
        var outcome = "callback_unhandled"
        var decidedUpdate: (button: UpdateButton, closing: String)?
        if let button = UpdateButton(callbackData: press.data) {
            let answer = await updates.relay(button, userID: press.userID, username: press.username)
            (reply, outcome) = (answer.text, answer.outcome)
            decidedUpdate = answer.closing.map { (button, $0) }
        } else if let (id, approve) = Self.approvalDecision(press.data) {
            if let user = press.userID, admins.contains(user) {
                let decider = "telegram:\(user)" + (press.username.map { " (@\($0))" } ?? "")
                do {
                    let decision = try approvals.decide(id, approve: approve, by: decider, via: .telegram)
                    waiters.decided(id)
                    (reply, outcome) = Self.describe(decision)
                } catch {
                    reply = "The decision could not be recorded; try again or use autonousctl."
                    outcome = "approval_error"
                    logger.error("cannot record an approval decision", metadata: ["error": "\(error)"])
                }
            } else {
                reply = "Only the admins (AUTONOUS_TELEGRAM_ADMINS) can decide this."
                outcome = "approval_refused"
                _ = try? events.append(
                    .approvalDecisionRefused, context,
                    payload: [
                        "approval_id": .string(id), "user_id": press.userID.map { .int($0) } ?? .null,
                        "reason": .string("not an admin"),
                    ])
                logger.warning(
                    "a non-admin pressed an approval button",
                    metadata: [
                        "approval.id": "\(id)", "telegram.user_id": "\(press.userID.map(String.init) ?? "none")",
                    ])
            }
        }
        _ = try? await client.call(
            "answerCallbackQuery",
            ["callback_query_id": .string(press.queryID), "text": .string(Self.shortened(reply))],
            timeout: .seconds(10))
        if let (button, closing) = decidedUpdate {
            await UpdateMessages(client: client, outbox: outbox, logger: logger).close(
                button.tx, button, closing: closing)
        }
        try? inbox.finish(item.id, status: .done, outcome: outcome)
    }

    /// `text` cut to `answerLimit` characters, with an ellipsis when it was longer.
    static func shortened(_ text: String) -> String {
        text.count <= answerLimit ? text : String(text.prefix(answerLimit - 1)) + "…"
    }

    /// The text shown to the admin who pressed, and the inbox outcome.
    static func describe(_ decision: ApprovalDecision) -> (String, String) {
        switch decision {
        case .decided(let approval):
            return (approval.status == .approved ? "Approved." : "Denied.", "approval_\(approval.status.rawValue)")
        case .notFound:
            return ("This approval does not exist.", "approval_unknown")
        case .alreadyDecided(let approval):
            return (
                "Already \(approval.status.rawValue)" + (approval.decidedBy.map { " by \($0)" } ?? "") + ".",
                "approval_already_decided"
            )
        case .expired:
            return ("Too late: this approval expired and the call was denied.", "approval_expired")
        }
    }
}

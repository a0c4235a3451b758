import AutonousCore
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Works through the inbox's messages: answers allowed users through the agent, records and ignores strangers, and
/// delivers the outbox so that every stored reply chunk is sent once. Button presses go to `CallbackDesk`.
struct TelegramCommander: Service {
    let client: TelegramClient
    let database: AppDatabase
    let agent: Agent
    let allowedUsers: Set<Int64>
    let parentEventID: Int64
    let sendPolicy: RetryPolicy
    let counters: WorkerCounters
    let doorbell: Doorbell
    let logger: Logger

    private var inbox: Inbox { Inbox(database: database) }
    private var outbox: Outbox { Outbox(database: database) }
    private var events: EventLog { EventLog(database: database) }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var worked = false
            do {
                while !Task.isCancelled, !Task.isShuttingDownGracefully,
                    let item = try inbox.claimNext(runID: UUID().uuidString.lowercased())
                {
                    worked = true
                    try await process(item)
                }
                counters.setInboxQueued(try inbox.counts().queued)
            } catch is DeferredDelivery {
                try? await Task.sleep(for: sendPolicy.maxDelay)
                continue
            } catch {
                logger.error("inbox processing failed", metadata: ["error": "\(error)"])
                counters.setLastError("inbox processing failed: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
            if !worked {
                // Wait for the poller's ring; re-check every second anyway.
                await doorbell.wait(timeout: .seconds(1))
            }
        }
    }

    /// A reply that could not be sent yet (Telegram unreachable); the row is requeued, nothing is lost.
    struct DeferredDelivery: Error {}

    private func process(_ item: InboxItem) async throws {
        let conversationID = "telegram:\(item.chatID.map(String.init) ?? "unknown")"
        let context = EventContext(parentID: parentEventID, runID: item.runID, conversationID: conversationID)
        guard let userID = item.userID, allowedUsers.contains(userID), let chatID = item.chatID else {
            try await database.pool.write { db in
                try EventLog.append(
                    db, "telegram.update.ignored", context,
                    payload: [
                        "update_id": .int(item.updateID), "kind": .string(item.kind),
                        "user_id": item.userID.map { .int($0) } ?? .null,
                        "chat_id": item.chatID.map { .int($0) } ?? .null,
                        "reason": .string("sender is not in AUTONOUS_TELEGRAM_ALLOWED_USERS"),
                    ])
                try Inbox.finish(db, item.id, status: .done, outcome: "ignored_stranger", error: nil)
            }
            logger.notice(
                "ignored an update from a stranger",
                metadata: [
                    "telegram.user_id": "\(item.userID.map(String.init) ?? "none")",
                    "telegram.update_id": "\(item.updateID)",
                ])
            return
        }

        if try outbox.hasReply(forInbox: item.id) {
            // A previous worker computed the reply and died before sending all of it: send only what is left.
            try await deliver(item, context: context)
            return
        }

        switch item.kind {
        case "message" where item.text != nil:
            _ = try? await client.call(
                "sendChatAction", ["chat_id": .int(chatID), "action": .string("typing")], timeout: .seconds(5))
            let request = AgentRequest(
                commander: "telegram", conversationID: conversationID, text: item.text ?? "", inboxID: item.id,
                runID: item.runID ?? UUID().uuidString.lowercased(),
                extra: ["update_id": .int(item.updateID), "attempt": .int(Int64(item.attempts))])
            let inboxID = item.id
            let outcome = try await counters.duringRun {
                try await agent.run(request) { db, reply in
                    try Outbox.enqueue(
                        db, inboxID: inboxID, conversationID: conversationID, chatID: chatID,
                        chunks: MessageSplitter.split(reply))
                }
            }
            try await deliver(item, context: context, failure: outcome.succeeded ? nil : outcome.error)
        case "message":
            try await database.pool.write { db in
                try Outbox.enqueue(
                    db, inboxID: item.id, conversationID: conversationID, chatID: chatID,
                    chunks: ["I can only read text messages for now."])
            }
            try await deliver(item, context: context, outcome: "unsupported_message")
        default:
            try inbox.finish(item.id, status: .done, outcome: "unsupported_kind")
        }
    }

    /// Sends the item's pending chunks in order and closes the inbox row.
    private func deliver(_ item: InboxItem, context: EventContext, failure: String? = nil, outcome: String = "answered")
        async throws
    {
        let replyTo = (try? JSONCoding.decoder.decode(JSONValue.self, from: Data(item.payload.utf8)))?["message"]?[
            "message_id"]?.intValue
        for chunk in try outbox.pending(forInbox: item.id) {
            var parameters: [String: JSONValue] = ["chat_id": .int(chunk.chatID), "text": .string(chunk.text)]
            if chunk.seq == 0, let replyTo {
                parameters["reply_parameters"] = .object([
                    "message_id": .int(replyTo), "allow_sending_without_reply": .bool(true),
                ])
            }
            do {
                let (result, _) = try await withRetries(
                    sendPolicy,
                    operation: { () async throws(TelegramError) in
                        try await client.call("sendMessage", parameters, timeout: .seconds(30))
                    },
                    onRetry: { attempt, error, delay in
                        logger.warning(
                            "sendMessage failed; retrying",
                            metadata: [
                                "attempt": "\(attempt)", "error": "\(error)",
                                "retry.delay_ms": "\(delay.wholeMilliseconds)",
                            ])
                    })
                try outbox.markSent(chunk.id, telegramMessageID: result["message_id"]?.intValue)
            } catch let error as TelegramError {
                let description = Redactor.shared.redact(error.description)
                counters.setLastError(description)
                if error.isRetryable {
                    try outbox.markAttemptFailed(chunk.id, error: description, final: false)
                    try await database.pool.write { db in
                        try EventLog.append(
                            db, "telegram.send.deferred", context,
                            payload: ["outbox_id": .int(chunk.id), "error": .string(description)])
                        try db.execute(
                            sql: "UPDATE inbox SET status = 'queued', updated_ms = ? WHERE id = ?",
                            arguments: [AppDatabase.nowMilliseconds(), item.id])
                    }
                    logger.error("reply not delivered yet; will retry", metadata: ["error": "\(description)"])
                    throw DeferredDelivery()
                }
                try outbox.markAttemptFailed(chunk.id, error: description, final: true)
                try await database.pool.write { db in
                    try EventLog.append(
                        db, "telegram.send.failed", context,
                        payload: ["outbox_id": .int(chunk.id), "error": .string(description)])
                    try Inbox.finish(db, item.id, status: .failed, outcome: "send_failed", error: description)
                }
                logger.error("reply could not be delivered", metadata: ["error": "\(description)"])
                return
            }
        }
        if let failure {
            try inbox.finish(item.id, status: .failed, outcome: "model_failed", error: failure)
        } else {
            try inbox.finish(item.id, status: .done, outcome: outcome)
        }
    }
}

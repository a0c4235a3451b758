import AutonousCore
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Works through the inbox's messages: answers allowed users through the agent, records and ignores strangers, and
/// delivers the outbox so that every stored reply chunk is sent once. Button presses go to `CallbackDesk`; an
/// admin's `/rollback` is relayed to the supervisor instead of the agent (`TelegramCommander+Rollback.swift`).
///
/// Chats are answered concurrently, one lane per chat (`LaneDispatcher`): at most `maxConcurrentRuns` runs at
/// once, never two of one chat, and a chat's messages in update_id order. A run waiting for an approval holds up
/// only its own chat.
struct TelegramCommander: Service {
    let client: TelegramClient
    let database: AppDatabase
    let agent: Agent
    let allowedUsers: Set<Int64>
    let parentEventID: Int64
    let sendPolicy: RetryPolicy
    let counters: WorkerCounters
    let doorbell: Doorbell
    /// Runs at once at most, each in another chat (`AUTONOUS_MAX_CONCURRENT_RUNS`).
    let maxConcurrentRuns: Int
    let logger: Logger
    /// The runs in flight now; `count` is the number for heartbeats and status.
    var runs = RunsInFlight()
    /// Attempts after which a message whose processing keeps failing (not its delivery) is given up as failed.
    var maxProcessingAttempts = 5
    /// Milliseconds since the epoch, for the not-before of a postponed message.
    var now: @Sendable () -> Int64 = { AppDatabase.nowMilliseconds() }
    /// AUTONOUS_TELEGRAM_ADMINS: who may /rollback.
    var admins: Set<Int64> = []
    /// Where a /rollback is relayed (the supervisor link); without one, /rollback answers that it cannot.
    var rollback: (any RollbackRequesting)?
    /// The runs going on, by chat, so that /cancel (taken by `CallbackDesk`) can stop one.
    var activeRuns = ActiveRuns()
    /// How answers show while the model writes them (`AUTONOUS_TELEGRAM_STREAMING`).
    var streaming = Configuration.TelegramStreaming.auto
    /// Whether Telegram turned out not to know drafts.
    var drafts = DraftSupport()

    private var inbox: Inbox { Inbox(database: database) }
    private var outbox: Outbox { Outbox(database: database) }
    var events: EventLog { EventLog(database: database) }

    func run() async throws {
        let counters = self.counters
        let dispatcher = LaneDispatcher(
            inbox: inbox, limit: maxConcurrentRuns, doorbell: doorbell, runs: runs, logger: logger,
            reportQueued: { counters.setInboxQueued($0) }, reportError: { counters.setLastError($0) }, now: now)
        await dispatcher.run { item in await handle(item) }
    }

    /// A reply that could not be sent yet (Telegram unreachable); the row is postponed, nothing is lost.
    struct DeferredDelivery: Error {}

    /// Works on one claimed item and leaves its row done, failed, postponed, or (when cancelled) in progress.
    private func handle(_ item: InboxItem) async {
        defer { IdleTrim.shared.noteActivity() }
        var logger = self.logger
        logger[metadataKey: "telegram.update_id"] = "\(item.updateID)"
        logger[metadataKey: "telegram.chat_id"] = "\(item.chatID.map(String.init) ?? "none")"
        do {
            try await process(item)
        } catch is DeferredDelivery {
            // deliver() postponed the row with a backoff; the dispatcher claims it again when it is due.
        } catch let error where Task.isCancelled || error is CancellationError {
            logger.notice("run cancelled; its update stays in progress for the next worker to requeue")
        } catch {
            await giveUpOrRetry(item, after: error, logger: logger)
        }
    }

    /// After an unexpected failure (the database, say): postpone with a backoff, or fail the row for good once it
    /// has had `maxProcessingAttempts`. Either way the chat's lane moves on.
    private func giveUpOrRetry(_ item: InboxItem, after error: any Error, logger: Logger) async {
        let description = Redactor.shared.redact("\(error)")
        let final = item.attempts >= maxProcessingAttempts
        let delay = sendPolicy.delay(afterAttempt: item.attempts)
        logger.error(
            final ? "processing an update failed; giving up" : "processing an update failed; will retry",
            metadata: ["error": "\(description)", "inbox.attempts": "\(item.attempts)"])
        counters.setLastError("processing update \(item.updateID) failed: \(description)")
        let conversationID = item.chatID.map { "telegram:\($0)" }
        let context = EventContext(parentID: parentEventID, runID: item.runID, conversationID: conversationID)
        let now = self.now()
        do {
            try await database.pool.write { db in
                try EventLog.append(
                    db, .inboxProcessingFailed, context,
                    payload: [
                        "update_id": .int(item.updateID), "attempts": .int(Int64(item.attempts)),
                        "error": .string(description), "final": .bool(final),
                        "retry_in_ms": final ? .null : .int(delay.wholeMilliseconds),
                    ])
                if final {
                    try Inbox.finish(db, item.id, status: .failed, outcome: "processing_failed", error: description)
                } else {
                    try Inbox.postpone(db, item.id, until: now + delay.wholeMilliseconds, now: now)
                }
            }
        } catch {
            // The row stays in progress and blocks only its chat, until the next worker requeues it.
            logger.error("cannot record the failure of an update", metadata: ["error": "\(error)"])
        }
    }

    private func process(_ item: InboxItem) async throws {
        let chat = "telegram:\(item.chatID.map(String.init) ?? "unknown")"
        let conversationID = try await database.pool.read { db in try ChatConversations.current(db, chat: chat) }
        let context = EventContext(parentID: parentEventID, runID: item.runID, conversationID: conversationID)
        guard let userID = item.userID, allowedUsers.contains(userID), let chatID = item.chatID else {
            try await database.pool.write { db in
                try EventLog.append(
                    db, .telegramUpdateIgnored, context,
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

        if item.kind == "message", let text = item.text, let command = RollbackCommand.parse(text) {
            try await answerRollback(
                command, item: item, userID: userID, chatID: chatID, conversationID: conversationID, context: context)
            return
        }

        if item.kind == "message", item.text.flatMap(ChatCommand.parse) == .new {
            // In the chat's lane, so a run before it finishes in the old conversation.
            let itemID = item.id
            let updateID = item.updateID
            try await database.pool.write { db in
                let previous = try ChatConversations.current(db, chat: chat)
                let started = try ChatConversations.startNew(db, chat: chat)
                try EventLog.append(
                    db, .conversationStarted, context,
                    payload: [
                        "chat": .string(chat), "conversation_id": .string(started), "previous": .string(previous),
                        "update_id": .int(updateID),
                    ])
                try Outbox.enqueue(
                    db, inboxID: itemID, conversationID: started, chatID: chatID, chunks: [Self.newConversationReply])
            }
            try await deliver(item, context: context, outcome: "new_conversation")
            return
        }

        switch item.kind {
        case "message" where item.text != nil:
            var request = AgentRequest(
                commander: "telegram", requestedBy: "telegram:\(userID)", conversationID: conversationID,
                text: item.text ?? "", inboxID: item.id,
                runID: item.runID ?? UUID().uuidString.lowercased(),
                extra: ["update_id": .int(item.updateID), "attempt": .int(Int64(item.attempts))])
            let inboxID = item.id
            let persist: Agent.Persist = { db, reply in
                let (chunks, parseMode) = Self.replyChunks(reply)
                try Outbox.enqueue(
                    db, inboxID: inboxID, conversationID: conversationID, chatID: chatID, chunks: chunks,
                    parseMode: parseMode)
            }
            let stream = answerStream(for: item, chatID: chatID)
            if let stream { request.onStream = { stream.receive($0) } }
            let outcome: AgentOutcome
            do {
                outcome = try await counters.duringRun {
                    try await runStoppable(request, chatID: chatID, draftID: stream?.draftID, persist: persist)
                }
            } catch {
                _ = await stream?.finish()
                throw error
            }
            let shown = await stream?.finish()
            if let shown { try await recordStream(shown, context: context) }
            // The answer replaces the preview message no sooner than a second after its last edit.
            if let nextEdit = shown?.nextEdit { try await Task.sleep(until: nextEdit) }
            // Shutting down: whatever the agent stored is delivered by the next worker, not half-sent now.
            try Task.checkCancellation()
            try await deliver(
                item, context: context, failure: outcome.succeeded ? nil : outcome.error, preview: shown?.messageID)
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

    /// What /new answers.
    static let newConversationReply =
        "Started a new conversation: what we said before is kept, but no longer sent to the model."

    /// Runs the agent in a task of its own that /cancel can stop (`ActiveRuns`). A run stopped that way is recorded
    /// as such and answered with the reason; a run cancelled because the worker is stopping stays unanswered, for
    /// the next worker.
    private func runStoppable(
        _ request: AgentRequest, chatID: Int64, draftID: Int64?, persist: @escaping Agent.Persist
    ) async throws -> AgentOutcome {
        let chat = "telegram:\(chatID)"
        let agent = self.agent
        let task = Task { try await agent.run(request, persist: persist) }
        activeRuns.begin(chat: chat, runID: request.runID, draftID: draftID) { task.cancel() }
        let typing = showTyping(in: chatID)
        defer {
            typing.cancel()
            activeRuns.finish(chat: chat, runID: request.runID)
        }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch let error where !Task.isCancelled {
            guard let stop = activeRuns.stopRequest(chat: chat, runID: request.runID) else { throw error }
            return try await agent.recordStop(request, stop, persist: persist)
        }
    }

    /// Shows "typing…" in the chat while a run goes on (model calls and tools): Telegram shows the action for about
    /// five seconds, so it is sent again every four until the returned task is cancelled. Only runs wake it.
    private func showTyping(in chatID: Int64) -> Task<Void, Never> {
        let client = self.client
        return Task {
            while !Task.isCancelled {
                _ = try? await client.call(
                    "sendChatAction", ["chat_id": .int(chatID), "action": .string("typing")], timeout: .seconds(5))
                // A timer Telegram's five-second action needs, not a poll; cancelled when the run ends.
                do { try await Task.sleep(for: Self.typingInterval) } catch { return }
            }
        }
    }

    /// How often "typing…" is sent again during a run.
    static let typingInterval = Duration.seconds(4)

    /// Sends the item's pending chunks in order and closes the inbox row.
    ///
    /// - Parameter preview: the message that showed the answer growing; the first chunk replaces its text.
    func deliver(
        _ item: InboxItem, context: EventContext, failure: String? = nil, outcome: String = "answered",
        preview: Int64? = nil
    ) async throws {
        let replyTo = (try? JSONValue(parsing: item.payload))?["message"]?[
            "message_id"]?.intValue
        for chunk in try outbox.pending(forInbox: item.id) {
            var parameters: [String: JSONValue] = ["chat_id": .int(chunk.chatID)]
            if chunk.seq == 0, let replyTo {
                parameters["reply_parameters"] = .object([
                    "message_id": .int(replyTo), "allow_sending_without_reply": .bool(true),
                ])
            }
            do {
                let result: JSONValue
                if chunk.seq == 0, let preview {
                    result = try await replace(preview, with: chunk, parameters, context: context)
                } else {
                    result = try await send(chunk, parameters, context: context)
                }
                try outbox.markSent(chunk.id, telegramMessageID: result["message_id"]?.intValue)
            } catch let error as TelegramError {
                if Task.isCancelled {
                    // Shutting down: the chunk stays pending and the row in progress for the next worker.
                    throw CancellationError()
                }
                let description = Redactor.shared.redact(error.description)
                counters.setLastError(description)
                if error.isRetryable {
                    // Postponed with a backoff that grows with the row's attempts: other chats go on meanwhile,
                    // and this chat's later messages wait behind it, so its answers stay in order.
                    let delay = sendPolicy.delay(afterAttempt: item.attempts, retryAfter: error.retryAfter)
                    let now = self.now()
                    try outbox.markAttemptFailed(chunk.id, error: description, final: false)
                    try await database.pool.write { db in
                        try EventLog.append(
                            db, .telegramSendDeferred, context,
                            payload: [
                                "outbox_id": .int(chunk.id), "error": .string(description),
                                "retry_in_ms": .int(delay.wholeMilliseconds),
                            ])
                        try Inbox.postpone(db, item.id, until: now + delay.wholeMilliseconds, now: now)
                    }
                    logger.error(
                        "reply not delivered yet; will retry",
                        metadata: ["error": "\(description)", "retry.delay_ms": "\(delay.wholeMilliseconds)"])
                    throw DeferredDelivery()
                }
                try outbox.markAttemptFailed(chunk.id, error: description, final: true)
                try await database.pool.write { db in
                    try EventLog.append(
                        db, .telegramSendFailed, context,
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

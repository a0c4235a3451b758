import AutonousCore
import Logging
import ServiceLifecycle

/// Sends the outbox's broadcasts (chunks that answer no inbox row, such as the supervisor's "admins" notices), each
/// once: a chunk is marked sent when Telegram accepted it, so a restart neither loses nor repeats one.
///
/// It works when rung (a broadcast was stored) and at start (what a previous worker left). When Telegram is
/// unreachable it waits out a growing backoff before the next pass, and a new broadcast does not cut that wait
/// short beyond one early pass; a chunk Telegram refuses for good (the admin blocked the bot), or one that failed
/// `maxAttempts` times, is marked failed so later broadcasts are not held up behind it.
struct BroadcastCourier: Service {
    /// Sends one text to one chat, with the chunk's reply_markup (inline buttons) when it has one; returns
    /// Telegram's message id.
    typealias Send =
        @Sendable (_ chatID: Int64, _ text: String, _ replyMarkup: JSONValue?) async throws(TelegramError)
        -> Int64?

    let outbox: Outbox
    let events: EventLog
    let parentEventID: Int64?
    let doorbell: Doorbell
    let retryPolicy: RetryPolicy
    let send: Send
    let logger: Logger
    /// Attempts after which a chunk that keeps failing is given up as failed.
    var maxAttempts = 10

    /// What one pass over the pending broadcasts came to.
    enum Pass: Equatable {
        /// Nothing is left to send (or the pass was cancelled).
        case done
        /// Telegram could not be reached; try again after a backoff (or `retryAfter`, when Telegram named one).
        case retry(retryAfter: Duration?)
    }

    func run() async throws {
        // Cancelled on graceful shutdown: a chunk being sent then stays pending for the next worker.
        await cancelWhenGracefulShutdown {
            var failedPasses = 0
            while !Task.isCancelled {
                let wait: Duration
                switch await deliverPending() {
                case .done:
                    failedPasses = 0
                    // Only a ring makes work; the timeout is a safety net.
                    wait = .seconds(3600)
                case .retry(let retryAfter):
                    failedPasses += 1
                    wait = retryPolicy.delay(afterAttempt: failedPasses, retryAfter: retryAfter)
                }
                await doorbell.wait(timeout: wait)
            }
        }
    }

    /// Sends every pending broadcast chunk in order, stopping at the first one Telegram could not take yet.
    func deliverPending() async -> Pass {
        let chunks: [OutboxItem]
        do {
            chunks = try outbox.pendingBroadcasts()
        } catch {
            logger.error("cannot read the outbox's broadcasts", metadata: ["error": "\(error)"])
            return .retry(retryAfter: nil)
        }
        for chunk in chunks {
            do {
                let messageID = try await send(chunk.chatID, chunk.text, chunk.replyMarkup)
                try outbox.markSent(chunk.id, telegramMessageID: messageID)
            } catch let error as TelegramError {
                // Shutting down: the chunk stays pending for the next worker.
                if Task.isCancelled { return .done }
                let description = Redactor.shared.redact(error.description)
                let final = !error.isRetryable || chunk.attempts + 1 >= maxAttempts
                try? outbox.markAttemptFailed(chunk.id, error: description, final: final)
                var logger = self.logger
                logger[metadataKey: "telegram.chat_id"] = "\(chunk.chatID)"
                logger[metadataKey: "outbox.id"] = "\(chunk.id)"
                if final {
                    _ = try? events.append(
                        .telegramSendFailed,
                        EventContext(parentID: parentEventID, conversationID: chunk.conversationID),
                        payload: ["outbox_id": .int(chunk.id), "error": .string(description)])
                    logger.error("a message for an admin could not be delivered", metadata: ["error": "\(description)"])
                    continue
                }
                logger.warning(
                    "a message for an admin is not delivered yet; will retry", metadata: ["error": "\(description)"])
                return .retry(retryAfter: error.retryAfter)
            } catch {
                logger.error("cannot record a sent broadcast chunk", metadata: ["error": "\(error)"])
                return .retry(retryAfter: nil)
            }
        }
        return .done
    }
}

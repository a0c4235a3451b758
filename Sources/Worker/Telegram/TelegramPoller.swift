import AutonousCore
import Foundation
import Logging
import ServiceLifecycle

/// Long-polls getUpdates and stores every update in the inbox before the next call's offset acknowledges it.
///
/// The offset is derived from the inbox (one past the highest stored update id), so nothing is acknowledged that
/// is not on disk, and a restart resumes exactly where the last stored update left off.
struct TelegramPoller: Service {
    let client: TelegramClient
    let inbox: Inbox
    let events: EventLog
    let parentEventID: Int64
    let pollTimeout: Duration
    let retryPolicy: RetryPolicy
    let counters: WorkerCounters
    /// Rung after new updates are stored: the message queue's and the button presses'.
    let doorbells: [Doorbell]
    let logger: Logger

    /// The update types autonous asks Telegram for.
    static let allowedUpdates = ["message", "callback_query", Inbox.generationStoppedKind]

    func run() async throws {
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let stored = try await pollOnce()
                counters.pollCompleted()
                if failures > 0 {
                    _ = try? events.append(
                        .telegramPollRecovered, EventContext(parentID: parentEventID),
                        payload: ["failures": .int(Int64(failures))])
                    logger.notice("Telegram polling recovered", metadata: ["telegram.failures": "\(failures)"])
                    counters.setLastError(nil)
                    failures = 0
                }
                if stored > 0 {
                    for doorbell in doorbells { doorbell.ring() }
                }
            } catch let error as TelegramError {
                if case .transport(.cancelled) = error { break }
                counters.pollFailed()
                failures += 1
                let delay = retryPolicy.delay(afterAttempt: min(failures, 30), retryAfter: error.retryAfter)
                let description = Redactor.shared.redact(error.description)
                if failures == 1 {
                    _ = try? events.append(
                        .telegramPollFailed, EventContext(parentID: parentEventID),
                        payload: ["error": .string(description), "delay_ms": .int(delay.wholeMilliseconds)])
                }
                counters.setLastError(description)
                logger.warning(
                    "getUpdates failed",
                    metadata: [
                        "error": "\(description)", "telegram.failures": "\(failures)",
                        "retry.delay_ms": "\(delay.wholeMilliseconds)",
                    ])
                try? await Task.sleep(for: delay)
            } catch {
                failures += 1
                logger.error("cannot store updates", metadata: ["error": "\(error)"])
                counters.setLastError("cannot store updates: \(error)")
                try? await Task.sleep(for: retryPolicy.delay(afterAttempt: min(failures, 30)))
            }
        }
    }

    /// One getUpdates call; returns how many new updates were stored.
    func pollOnce() async throws -> Int {
        var parameters: [String: JSONValue] = [
            "timeout": .int(pollTimeout.components.seconds),
            "allowed_updates": .array(Self.allowedUpdates.map { .string($0) }),
            "limit": .int(100),
        ]
        if let offset = try inbox.nextOffset() { parameters["offset"] = .int(offset) }
        let result = try await client.call("getUpdates", parameters, timeout: pollTimeout + .seconds(15))
        guard case .array(let elements) = result else {
            throw TelegramError.malformed("getUpdates result is not an array")
        }
        var updates: [TelegramUpdate] = []
        for element in elements {
            if let update = TelegramUpdate(element) {
                updates.append(update)
            } else {
                // Without an update_id it cannot be stored or acknowledged; record it so it is not silently lost.
                _ = try? events.append(
                    .telegramUpdateInvalid, EventContext(parentID: parentEventID),
                    payload: ["update": .string(String(element.jsonText.prefix(2000)))])
                logger.error("Telegram sent an update without update_id")
            }
        }
        guard !updates.isEmpty else { return 0 }
        let inserted = try inbox.store(updates.map(\.inboxItem))
        for item in inserted {
            _ = try? events.append(
                .telegramUpdateStored,
                EventContext(parentID: parentEventID, conversationID: item.chatID.map { "telegram:\($0)" }),
                payload: [
                    "update_id": .int(item.updateID), "kind": .string(item.kind),
                    "user_id": item.userID.map { .int($0) } ?? .null, "chat_id": item.chatID.map { .int($0) } ?? .null,
                ])
        }
        counters.updateReceived(inserted.count)
        return inserted.count
    }
}

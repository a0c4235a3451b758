import AutonousCore
import Foundation
import Logging
import ServiceLifecycle

/// Claims inbox messages, one lane per chat, and works on them concurrently, at most `limit` at once.
///
/// Order: `Inbox.claimNext` gives a chat's messages out one at a time in update_id order and never while another of
/// its messages is in progress, so one chat never has two runs and its answers come in order, while other chats
/// run beside it. Callback queries are not claimed here (`CallbackDesk` has its own lane).
///
/// Wake-ups, no polling tick: the poller rings `doorbell` after it stored updates, and every run that ends rings it
/// too (its chat and its slot are free again). A message postponed after a failed delivery becomes due at a known
/// time, which bounds the wait. Nothing else makes work appear; `idleWait` is only an upper bound.
///
/// Shutdown: on graceful shutdown it stops claiming and waits for the runs in flight; when the service group's
/// grace period is over they are cancelled. A run that ends by cancellation leaves its row in progress, and the
/// next worker's `Inbox.requeueInterrupted()` puts it back in the queue.
struct LaneDispatcher: Sendable {
    let inbox: Inbox
    /// Runs at once at most (`AUTONOUS_MAX_CONCURRENT_RUNS`).
    let limit: Int
    let doorbell: Doorbell
    let runs: RunsInFlight
    let logger: Logger
    /// Told how many rows are queued after each round of claims (`WorkerCounters.setInboxQueued`).
    var reportQueued: @Sendable (Int) -> Void = { _ in }
    /// Told when the inbox cannot be read or written (`WorkerCounters.setLastError`).
    var reportError: @Sendable (String) -> Void = { _ in }
    /// The time a postponed row's not-before is compared with (milliseconds since the epoch).
    var now: @Sendable () -> Int64 = { AppDatabase.nowMilliseconds() }
    /// The longest wait when nothing is due: only a ring brings work then, so this is just an upper bound.
    var idleWait: Duration = .seconds(3600)
    /// The wait before the next claim after the database failed.
    var errorWait: Duration = .seconds(1)

    /// Claims and hands out items until graceful shutdown or cancellation, then waits for the runs in flight.
    ///
    /// - Parameter handle: works on one claimed item and leaves its row done, failed, postponed, or (cancelled) in
    ///   progress. It runs in a child task; several run at once, never two of one chat.
    func run(_ handle: @escaping @Sendable (InboxItem) async -> Void) async {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let wait: Duration
                    // One instant for the claims and for the next due time: a row that was not due at the claim
                    // is found by nextWait even if it fell due in between (otherwise it would wait out idleWait).
                    let claimedAt = now()
                    do {
                        while runs.count < limit,
                            let item = try inbox.claimNext(runID: UUID().uuidString.lowercased(), now: claimedAt)
                        {
                            runs.begin()
                            group.addTask {
                                await handle(item)
                                runs.end()
                                doorbell.ring()
                            }
                        }
                        reportQueued(try inbox.counts().queued)
                        wait = try nextWait(after: claimedAt)
                    } catch {
                        logger.error("cannot claim inbox messages", metadata: ["error": "\(error)"])
                        reportError("cannot claim inbox messages: \(error)")
                        wait = errorWait
                    }
                    await doorbell.wait(timeout: wait)
                }
            } onGracefulShutdown: {
                doorbell.ring()
            }
            let left = runs.count
            if left > 0 {
                logger.notice("waiting for the runs in flight before stopping", metadata: ["runs.in_flight": "\(left)"])
            }
        }
    }

    /// Until the next message postponed past `claimedAt` is due, or `idleWait` when none is. Rows due by
    /// `claimedAt` that were not claimed wait for a run to end (its ring) or for a free slot.
    private func nextWait(after claimedAt: Int64) throws -> Duration {
        guard let due = try inbox.nextPostponed(after: claimedAt) else { return idleWait }
        return min(idleWait, .milliseconds(max(1, due - now())))
    }
}

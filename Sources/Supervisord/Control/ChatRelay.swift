import AutonousCore
import Foundation
import Synchronization

/// Carries local chat messages from operators (control.sock) to the worker (its notice stream) and the answers
/// back. A message waits only while a worker is connected; if the worker goes away first, the caller is told so
/// instead of waiting for an answer that cannot come.
final class ChatRelay: Sendable {
    enum Outcome: Sendable {
        case answered(text: String, runID: String?)
        case failed(String)
        case workerGone(String)
    }

    private let notices = BlockingQueue<WorkerInterface.Notice>()
    private let pending = Mutex<[String: OneShot<Outcome>]>([:])

    /// Queues a chat notice for the worker and waits (bounded) for its outcome.
    ///
    /// - Parameter stillWanted: polled while waiting; returning false (the caller hung up) stops the wait.
    func send(text: String, conversation: String, timeout: Duration, stillWanted: () -> Bool) -> Outcome {
        let id = UUID().uuidString.lowercased()
        let slot = OneShot<Outcome>()
        pending.withLock { $0[id] = slot }
        defer { _ = pending.withLock { $0.removeValue(forKey: id) } }
        notices.push(WorkerInterface.Notice(kind: "chat", id: id, text: text, conversation: conversation))
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let outcome = slot.wait(timeout: .milliseconds(250)) { return outcome }
            if !stillWanted() { return .failed("the caller hung up") }
        }
        return .failed("the worker did not answer within \(timeout)")
    }

    /// The worker's answer to notice `id`; false when nobody waits for it any more.
    func deliver(id: String, outcome: Outcome) -> Bool {
        guard let slot = pending.withLock({ $0[id] }) else { return false }
        return slot.fulfil(outcome)
    }

    /// The next notice for the worker's stream.
    func nextNotice(timeout: Duration) -> WorkerInterface.Notice? {
        notices.pop(timeout: timeout)
    }

    /// A notice the stream could not deliver goes back to the front.
    func requeue(_ notice: WorkerInterface.Notice) {
        notices.pushFront(notice)
    }

    /// The worker went away: every waiting caller is told, and undelivered notices are dropped with them.
    func workerGone(_ reason: String) {
        _ = notices.drain()
        let slots = pending.withLock { Array($0.values) }
        for slot in slots { slot.fulfil(.workerGone(reason)) }
    }
}

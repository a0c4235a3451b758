import AutonousCore
import Foundation

/// Carries local chat messages from operators (control.sock) to the worker (its notice stream) and the answers
/// back. A message waits only while a worker is connected; if the worker goes away first, the caller is told so
/// instead of waiting for an answer that cannot come.
final class ChatRelay: Sendable {
    enum Outcome: Sendable {
        case answered(text: String, runID: String?)
        case failed(String)
        case workerGone(String)
    }

    /// What the worker's Subscribe stream carries.
    let notices = NoticeQueue()
    private let chats = PendingReplies<Outcome>()

    /// Queues a chat notice for the worker and waits (bounded) for its outcome. Cancel the calling task to stop
    /// waiting (the caller hung up).
    func send(text: String, conversation: String, timeout: Duration) async -> Outcome {
        let id = chats.register()
        notices.push(WorkerInterface.Notice(kind: "chat", id: id, text: text, conversation: conversation))
        guard let outcome = await chats.wait(id, timeout: timeout) else {
            return Task.isCancelled
                ? .failed("the caller hung up") : .failed("the worker did not answer within \(timeout)")
        }
        return outcome
    }

    /// The worker's answer to notice `id`; false when nobody waits for it any more.
    func deliver(id: String, outcome: Outcome) -> Bool {
        chats.deliver(id, outcome)
    }

    /// The worker went away: every waiting caller is told, and undelivered notices are dropped with them.
    func workerGone(_ reason: String) {
        notices.drain()
        chats.deliverToAll(.workerGone(reason))
    }
}

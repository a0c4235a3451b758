import AutonousCore
import Foundation

/// Carries what operators send the worker over its notice stream, and the worker's answers back: local chat
/// messages (control.sock `Chat`) and tool-approval decisions (`DecideApproval`, which the worker records in its
/// own database). A caller waits only while a worker is connected; if the worker goes away first, it is told so
/// instead of waiting for an answer that cannot come.
final class ChatRelay: Sendable {
    enum Outcome: Sendable {
        case answered(text: String, runID: String?)
        case failed(String)
        case workerGone(String)
    }

    /// What became of a decision sent to the worker.
    enum DecisionOutcome: Sendable {
        case recorded(WorkerInterface.DecisionReply)
        case failed(String)
        case workerGone(String)
    }

    /// What the worker's Subscribe stream carries.
    let notices = NoticeQueue()
    private let chats = KeyedWakeUps<Outcome>()
    private let decisions = KeyedWakeUps<DecisionOutcome>()

    /// Queues a chat notice for the worker and waits (bounded) for its outcome. Cancel the calling task to stop
    /// waiting (the caller hung up).
    func send(text: String, conversation: String, timeout: Duration) async -> Outcome {
        let id = UUID().uuidString.lowercased()
        chats.register(id)
        notices.push(WorkerInterface.Notice(kind: "chat", id: id, text: text, conversation: conversation))
        guard let outcome = await chats.wait(id, timeout: timeout) else {
            return Task.isCancelled
                ? .failed("the caller hung up") : .failed("the worker did not answer within \(timeout)")
        }
        return outcome
    }

    /// The worker's answer to notice `id`; false when nobody waits for it any more.
    func deliver(id: String, outcome: Outcome) -> Bool {
        chats.resume(id, with: outcome)
    }

    /// Asks the worker to record an operator's decision on approval `approvalID` and waits (bounded) for what it
    /// recorded.
    func decide(approvalID: String, approve: Bool, decidedBy: String, timeout: Duration) async -> DecisionOutcome {
        let id = UUID().uuidString.lowercased()
        decisions.register(id)
        notices.push(
            WorkerInterface.Notice(
                kind: "decide", id: id, approvalId: approvalID, approve: approve, decidedBy: decidedBy))
        guard let outcome = await decisions.wait(id, timeout: timeout) else {
            return Task.isCancelled
                ? .failed("the caller hung up") : .failed("the worker did not record the decision within \(timeout)")
        }
        return outcome
    }

    /// The worker's report on decision notice `reply.id`; false when nobody waits for it any more.
    func deliverDecision(_ reply: WorkerInterface.DecisionReply) -> Bool {
        decisions.resume(reply.id, with: .recorded(reply))
    }

    /// The worker went away: every waiting caller is told, and undelivered notices are dropped with them.
    func workerGone(_ reason: String) {
        notices.drain()
        chats.resumeAll(with: .workerGone(reason))
        decisions.resumeAll(with: .workerGone(reason))
    }
}

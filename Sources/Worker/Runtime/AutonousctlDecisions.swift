import AutonousCore
import Logging

/// Records the decisions operators make with `autonousctl approve|reject`, which the supervisor relays as "decide"
/// notices: the worker owns the approvals table, so the supervisor never writes it. Each decision is recorded
/// (with the decider the supervisor derived from SO_PEERCRED), wakes the waiting tool call, and is reported back
/// with a DecisionReply.
struct AutonousctlDecisions: Sendable {
    let approvals: Approvals
    let waiters: ApprovalWaiters
    let link: SupervisorLink
    let logger: Logger

    /// Handles one "decide" notice.
    func handle(_ notice: WorkerInterface.Notice) async {
        guard let id = notice.id else {
            logger.warning("decide notice without an id; ignored")
            return
        }
        let reply: WorkerInterface.DecisionReply
        if let approvalID = notice.approvalId, let approve = notice.approve, let decider = notice.decidedBy {
            reply = record(id: id, approvalID: approvalID, approve: approve, decider: decider)
        } else {
            reply = .init(id: id, outcome: .failed, approval: nil, error: "the decide notice lacks a field")
        }
        await link.decisionReply(reply)
    }

    private func record(id: String, approvalID: String, approve: Bool, decider: String)
        -> WorkerInterface.DecisionReply
    {
        do {
            let decision = try approvals.decide(approvalID, approve: approve, by: decider, via: .autonousctl)
            waiters.decided(approvalID)
            logger.notice(
                "approval decision from autonousctl",
                metadata: ["approval.id": "\(approvalID)", "approval.by": "\(decider)", "approve": "\(approve)"])
            return .init(id: id, decision)
        } catch {
            logger.error(
                "cannot record an approval decision", metadata: ["approval.id": "\(approvalID)", "error": "\(error)"])
            return .init(id: id, outcome: .failed, approval: nil, error: "\(error)")
        }
    }
}

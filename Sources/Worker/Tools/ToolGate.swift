import AutonousCore
import Foundation
import Logging

/// Tells the admins about an approval and, once it is decided, updates what they were shown.
protocol ApprovalAnnouncer: Sendable {
    /// Sends the request; returns the messages sent (an announcer that fails logs and returns what it managed).
    func announce(_ approval: Approval) async -> [ApprovalNotice]
    /// Replaces the announcements with the outcome, without buttons.
    func close(_ approval: Approval, notices: [ApprovalNotice]) async
}

/// The policy between a prepared tool call and its execution: per tier `auto` runs it, `deny` refuses it, `ask`
/// records an approval bound to the call's exact tool and arguments, announces it to the admins (Telegram) and
/// waits until an admin approves or rejects it (Telegram buttons, `autonousctl approve|reject`) or its deadline
/// passes, which denies it. A refusal is the tool's result, which the model reads.
struct ToolGate: Sendable {
    let policy: ToolPolicy
    let approvals: Approvals
    let timeout: Duration
    let announcer: (any ApprovalAnnouncer)?
    /// Woken by whoever records a decision (Telegram buttons, autonousctl through the supervisor).
    let waiters: ApprovalWaiters
    let logger: Logger

    /// Runs or refuses `call`; approval events go under `context` (the tool call's started event).
    func run(_ call: ToolRegistry.PreparedCall, context: EventContext) async throws -> (ToolResult, Approval?) {
        switch policy.mode(for: call.tier.rawValue) {
        case .auto:
            return (await call.execute(), nil)
        case .deny:
            return (
                .failure(
                    "the \(call.tier.rawValue) tier is denied by this installation's policy (AUTONOUS_TIER_POLICY); "
                        + "do without this call", tier: call.tier), nil
            )
        case .ask:
            let approval = try await ask(call, context: context)
            let bound = Approvals.canonical(call.arguments).sha256
            switch approval.status {
            case .approved where approval.subject == call.name && approval.argumentsSHA256 == bound:
                return (await call.execute(), approval)
            case .approved:
                return (
                    .failure("approval \(approval.id) does not match this call; not run", tier: call.tier), approval
                )
            case .rejected:
                return (
                    .failure(
                        "an admin rejected this call (approval \(approval.id), by \(approval.decidedBy ?? "an admin")); "
                            + "it was not run", tier: call.tier), approval
                )
            case .expired, .pending:
                return (
                    .failure(
                        "no admin approved this call within \(timeout.components.seconds) s (approval \(approval.id)); "
                            + "it was not run", tier: call.tier), approval
                )
            }
        }
    }

    /// Records the approval, announces it, waits for the decision or the deadline, and closes the announcements.
    private func ask(_ call: ToolRegistry.PreparedCall, context: EventContext) async throws -> Approval {
        let created = try approvals.create(
            kind: "tool", subject: call.name, arguments: call.arguments, tier: call.tier.rawValue,
            summary: call.summary, lifetime: timeout, context: context)
        waiters.expect(created.id)
        logger.notice(
            "tool call waits for approval",
            metadata: [
                "approval.id": "\(created.id)", "tool.name": "\(call.name)", "tool.tier": "\(call.tier.rawValue)",
            ])
        var notices: [ApprovalNotice] = []
        if let announcer {
            notices = await announcer.announce(created)
            if !notices.isEmpty { try? approvals.recordNotices(created.id, notices) }
        }
        let final = try await waitForDecision(created)
        if let announcer, !notices.isEmpty { await announcer.close(final, notices: notices) }
        logger.notice(
            "approval ended", metadata: ["approval.id": "\(final.id)", "approval.status": "\(final.status.rawValue)"])
        return final
    }

    /// Waits for the decision's wake-up until the deadline; at the deadline (or when the worker stops) records the
    /// expiry, unless a decision won the race.
    private func waitForDecision(_ approval: Approval) async throws -> Approval {
        let lifetime = Duration.milliseconds(approval.expiresMs - approval.createdMs)
        let deadline = ContinuousClock.now + lifetime
        var remaining = lifetime
        while remaining > .zero, await waiters.wait(approval.id, timeout: remaining) {
            if let current = try approvals.approval(approval.id), current.status != .pending { return current }
            // Woken but still pending cannot happen (the wake-up follows the write); wait out the rest anyway.
            waiters.expect(approval.id)
            remaining = deadline - ContinuousClock.now
        }
        return try approvals.expire(approval.id) ?? approval
    }
}

import AutonousCore
import Foundation

/// staged → approved (an admin's decision) → deploying → probation → promoted, or reverted by the revision
/// lifecycle.
extension UpdatePipeline {
    /// Records an admin's decision (`UpdateApproval.check` inside the write transaction) and wakes the loop, which
    /// deploys an approved transaction at once.
    ///
    /// - Parameter relayingPID: for a Telegram decision, the pid of the worker that relayed it: its revision must be
    ///   the promoted last-good one, never one on probation.
    func decide(_ request: UpdateDecisionRequest, relayingPID: Int32? = nil) throws -> (Transaction, String) {
        let pointers = manager.pointers()
        let probation = manager.snapshot().revisions.probation?.revision
        let relaying = relayingPID.flatMap { manager.expectedRevision(pid: $0) }
        let transaction = try store.recordDecision(
            request, admins: configuration.telegramAdmins, mode: configuration.updateApproval,
            relay: RelayTrust(relayingRevision: relaying, lastGood: pointers.lastGood, probation: probation))
        logger.notice(
            "self-update decided",
            metadata: [
                "tx": "\(transaction.id)", "update.decision": "\(request.decision.rawValue)",
                "update.by": "\(request.decidedBy)",
            ])
        changes.notify()
        tellProposer(transaction)
        if case .shell = request.via {
            let verb = request.decision == .approve ? "Approved" : "Rejected"
            manager.closeUpdateMessages(
                tx: transaction.id, sha256: request.artifactSHA256,
                closing: "\(verb) by \(request.decidedBy) with autonousctl.")
        }
        let message =
            request.decision == .approve
            ? "approved \(transaction.id); it deploys now through probation (autonousctl transaction "
                + "\(transaction.id) follows it)"
            : "rejected \(transaction.id); nothing is deployed"
        return (transaction, message)
    }

    /// Starts the deploy of an approved transaction: its artifact must still verify and its base still run.
    func deploy(_ transaction: Transaction) async throws {
        let id = transaction.id
        guard let sha256 = transaction.artifactSHA256 else {
            try move(id, to: .deploying, reason: nil)
            try move(id, to: .deployFailed, reason: "it names no artifact")
            return
        }
        // Another revision on probation (an operator's deploy) goes first: this one waits, approved, for the
        // next look (until its deadline).
        if manager.snapshot().revisions.probation != nil { return }
        try move(id, to: .deploying, reason: nil)
        do {
            try manager.deploy(
                revision: sha256, reason: "self-update \(id) (\(transaction.proposal.title)), approved")
        } catch let refusal as RevisionRefusal {
            try move(id, to: .deployFailed, reason: refusal.message)
            manager.tellAdmins("Self-update \(id) could not be deployed: \(refusal.message)")
            return
        }
        try move(id, to: .probation, reason: nil)
        let outcome = await manager.waitForDeploy(sha256)
        if let outcome {
            try finish(id, promoted: outcome.promoted, reason: outcome.reason)
        }
        // No outcome in time (or the supervisor stops): `follow` reads the revision log on the next look.
    }

    /// A transaction deploying or on probation after a restart (or a wait that ran out): the revision log says how
    /// its artifact's deploy ended; until it ended, the next look asks again.
    func follow(_ transaction: Transaction) async throws {
        guard let sha256 = transaction.artifactSHA256 else {
            if transaction.state == .deploying {
                try move(transaction.id, to: .deployFailed, reason: "it names no artifact")
            }
            return
        }
        let entry = try revisions.latest(for: sha256)
        switch entry?.state {
        case .promoted?:
            if transaction.state == .deploying { try move(transaction.id, to: .probation, reason: nil) }
            try finish(transaction.id, promoted: true, reason: entry?.reason)
        case .reverted?, .refused?, .rolledBack?, .retired?:
            if transaction.state == .deploying {
                try move(
                    transaction.id, to: .deployFailed, reason: entry?.reason ?? "the revision did not start")
            } else {
                try finish(transaction.id, promoted: false, reason: entry?.reason)
            }
        case .probation?:
            if transaction.state == .deploying { try move(transaction.id, to: .probation, reason: nil) }
            if let outcome = await manager.waitForDeploy(sha256) {
                try finish(transaction.id, promoted: outcome.promoted, reason: outcome.reason)
            }
        case .imported?, nil:
            // The deploy was never recorded: the restart came between `deploying` and the revision's probation.
            try move(
                transaction.id, to: .deployFailed, reason: "interrupted: the supervisor restarted before the deploy")
        }
    }

    private func finish(_ id: String, promoted: Bool, reason: String?) throws {
        let transaction = try move(
            id, to: promoted ? .promoted : .reverted, reason: reason ?? (promoted ? "passed probation" : nil))
        let text =
            promoted
            ? "Self-update \(id) passed probation and is promoted: \(transaction.proposal.title)"
            : "Self-update \(id) was reverted: \(reason ?? "it failed probation"). The last-good revision runs again."
        manager.tellAdmins(text)
        logger.notice(
            "self-update deploy ended", metadata: ["tx": "\(id)", "update.promoted": "\(promoted)"])
    }
}

import AutonousCore
import Foundation
import Logging

/// Who decides a staged self-update: the supervisor, over `SupervisorLink`; tests put a stand-in here.
protocol UpdateDeciding: Sendable {
    /// Relays a button press; throws `VarlinkError` (`io.autonous.Worker.UpdateDecisionRefused` …) when the
    /// supervisor refuses.
    func decideUpdate(_ request: WorkerInterface.DecideUpdateRequest) async throws -> WorkerInterface.DecideUpdateReply
}

/// Relays a press on a staged self-update's Approve or Reject button to the supervisor and words its answer.
///
/// The worker checks nothing about the sender: the supervisor is the authority on who may decide (it checks the
/// sender against AUTONOUS_TELEGRAM_ADMINS, the tx and sha256, the deadline, the approval mode and the relaying
/// revision), and it records every refusal, a stranger's press included. So every well-formed press is relayed.
struct UpdateDecisionRelay: Sendable {
    /// Nil when no supervisor can be asked (the answer says so).
    let decider: (any UpdateDeciding)?
    /// How long the supervisor may take to answer before the press is answered as unreachable.
    var timeout: Duration = .seconds(10)
    var clock: any Clock<Duration> = ContinuousClock()
    let logger: Logger

    static let refusalName = "io.autonous.Worker.UpdateDecisionRefused"

    /// What became of one press.
    struct Answer: Equatable {
        /// Shown to whoever pressed (answerCallbackQuery).
        var text: String
        /// The inbox row's outcome word.
        var outcome: String
        /// When the supervisor recorded the decision: the line every admin's copy of the message now ends with
        /// (it loses its buttons); nil when nothing was decided.
        var closing: String?
    }

    func relay(_ button: UpdateButton, userID: Int64?, username: String?) async -> Answer {
        let verb = button.approve ? "approve" : "reject"
        let fallback = "try again or use autonousctl \(verb) \(button.tx)."
        guard let userID else {
            return Answer(text: "Telegram did not say who pressed; nothing was decided.", outcome: "update_no_sender")
        }
        guard let decider else {
            return Answer(text: "No supervisor is connected; " + fallback, outcome: "update_unreachable")
        }
        var logger = logger
        logger[metadataKey: "tx"] = "\(button.tx)"
        logger[metadataKey: "telegram.user_id"] = "\(userID)"
        let request = WorkerInterface.DecideUpdateRequest(
            tx: button.tx, sha256: button.sha256, approve: button.approve, requestedBy: userID)
        do {
            let reply = try await withDeadline(timeout, clock: clock, "DecideUpdate") {
                try await decider.decideUpdate(request)
            }
            let who = "telegram:\(userID)" + (username.map { " (@\($0))" } ?? "")
            logger.notice(
                "a self-update decision was relayed and recorded",
                metadata: ["update.decision": "\(verb)", "update.state": "\(reply.state)"])
            return Answer(
                text: RollbackRelay.finished(Self.capitalized(reply.message)), outcome: "update_\(verb)d",
                closing: (button.approve ? "Approved by " : "Rejected by ") + who + ".")
        } catch let error as VarlinkError where error.name == Self.refusalName {
            let message = error.parameters["message"]?.stringValue ?? "the supervisor gave no reason"
            logger.notice("the supervisor refused a relayed self-update decision", metadata: ["reason": "\(message)"])
            return Answer(text: RollbackRelay.finished(Self.capitalized(message)), outcome: "update_refused")
        } catch let error as VarlinkError {
            logger.error("the supervisor failed a relayed self-update decision", metadata: ["error": "\(error)"])
            let member = error.name.split(separator: ".").last.map(String.init) ?? error.name
            return Answer(
                text: "The supervisor could not decide (\(member)); " + fallback, outcome: "update_failed")
        } catch {
            logger.error(
                "cannot relay a self-update decision to the supervisor",
                metadata: ["error": "\(Redactor.shared.redact("\(error)"))"])
            return Answer(text: "Could not reach the supervisor; " + fallback, outcome: "update_unreachable")
        }
    }

    /// `text` with its first letter in upper case (the supervisor's sentences start lower case).
    static func capitalized(_ text: String) -> String {
        text.prefix(1).uppercased() + text.dropFirst()
    }
}

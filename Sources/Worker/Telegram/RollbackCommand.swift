import AutonousCore
import Foundation

/// Who carries out a relayed /rollback: the supervisor, over `SupervisorLink`; tests put a stand-in here.
protocol RollbackRequesting: Sendable {
    /// Asks for the rollback; throws `VarlinkError` when the supervisor refuses.
    func requestRollback(_ request: WorkerInterface.RollbackRequest) async throws -> WorkerInterface.RollbackReply
}

/// `/rollback [REVISION]` as an admin types it in Telegram: roll the worker back to REVISION (a sha256 or a prefix
/// of 8 to 64 lowercase hex characters), or without one to the previous last-good revision.
///
/// The worker only relays it: the supervisor owns revisions and checks the sender again itself. The worker's own
/// checks (the sender is an admin, the argument is well formed) only spare the supervisor requests it would refuse.
enum RollbackCommand: Equatable {
    /// A well-formed request; nil target: the previous last-good revision.
    case request(target: String?)
    /// The arguments are wrong; the admin gets `usage`, nothing is relayed.
    case malformed

    static let usage =
        "Usage: /rollback [REVISION], where REVISION is 8 to 64 lowercase hex characters of a revision's sha256; "
        + "without it, the previous last-good revision."

    /// The command in `text`, or nil when `text` is not a /rollback (also `/rollback@BotName`, as Telegram writes
    /// commands in groups).
    static func parse(_ text: String) -> RollbackCommand? {
        let words = text.split(whereSeparator: \.isWhitespace)
        guard let first = words.first else { return nil }
        let command = first.split(separator: "@", maxSplits: 1).first ?? first
        guard command == "/rollback" else { return nil }
        switch words.count {
        case 1: return .request(target: nil)
        case 2 where isRevisionPrefix(words[1]): return .request(target: String(words[1]))
        default: return .malformed
        }
    }

    /// True for 8 to 64 lowercase hex characters.
    static func isRevisionPrefix(_ text: Substring) -> Bool {
        (8 ... 64).contains(text.count) && text.allSatisfy { ("0" ... "9").contains($0) || ("a" ... "f").contains($0) }
    }
}

/// Decides what a /rollback from one sender comes to, relays it when it should, and words the answer.
struct RollbackRelay: Sendable {
    /// AUTONOUS_TELEGRAM_ADMINS.
    let admins: Set<Int64>
    /// Nil when no supervisor can be asked (the answer says so).
    let requester: (any RollbackRequesting)?

    /// What to do with a command before anything is relayed.
    enum Decision: Equatable {
        /// Answer `text` and relay nothing; `outcome` is the inbox row's outcome word.
        case answer(text: String, outcome: String)
        /// Relay a request for `target` from `requestedBy`.
        case relay(WorkerInterface.RollbackRequest)
    }

    static let notAnAdmin = "Only the admins (AUTONOUS_TELEGRAM_ADMINS) can roll back a revision."

    func decide(_ command: RollbackCommand, from userID: Int64) -> Decision {
        guard admins.contains(userID) else { return .answer(text: Self.notAnAdmin, outcome: "rollback_not_admin") }
        switch command {
        case .malformed: return .answer(text: RollbackCommand.usage, outcome: "rollback_usage")
        case .request(let target): return .relay(.init(requestedBy: userID, target: target))
        }
    }

    /// The supervisor's answer: the revision now starting, or nil and why not.
    struct Answer: Equatable {
        var text: String
        var revision: String?
        var error: String?
    }

    /// Relays `request` and words the supervisor's answer in one sentence for the admin.
    func relay(_ request: WorkerInterface.RollbackRequest) async -> Answer {
        guard let requester else {
            return Answer(text: "No supervisor is connected to carry out a rollback.", error: "no supervisor")
        }
        do {
            let reply = try await requester.requestRollback(request)
            return Answer(text: reply.message, revision: reply.revision)
        } catch let error as VarlinkError {
            return Answer(text: Self.sentence(for: error), error: error.description)
        } catch {
            let description = Redactor.shared.redact("\(error)")
            return Answer(
                text: "The rollback could not be relayed to the supervisor: " + Self.finished(description),
                error: description)
        }
    }

    /// One sentence for an error the supervisor answered with.
    static func sentence(for error: VarlinkError) -> String {
        let member = error.name.split(separator: ".").last.map(String.init) ?? error.name
        let detail = error.parameters["message"]?.stringValue
        switch member {
        case "NotAnAdmin":
            return "The supervisor refused: you are not in its AUTONOUS_TELEGRAM_ADMINS."
        case "RollbackRefused":
            return "Rollback refused: " + finished(detail ?? "the supervisor gave no reason")
        case "NoSuchRevision":
            return "Rollback refused: no revision matches \(error.parameters["revision"]?.stringValue ?? "that name")."
        default:
            return "The supervisor could not roll back: " + finished(detail ?? error.description)
        }
    }

    /// `text` ending with a full stop (unless it ends with one already, or with ! or ?).
    static func finished(_ text: String) -> String {
        guard let last = text.last, !".!?".contains(last) else { return text }
        return text + "."
    }
}

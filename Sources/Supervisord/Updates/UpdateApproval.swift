import AutonousCore
import Foundation

/// Who may decide on a self-update (`AUTONOUS_UPDATE_APPROVAL`); named here because GRDB has a `Configuration` too.
typealias UpdateApprovalMode = AutonousCore.Configuration.UpdateApprovalMode

/// An admin's decision on a staged transaction, as it reached the supervisor: from a Telegram button (relayed by the
/// worker) or from `autonousctl` on the control socket.
struct UpdateDecisionRequest: Sendable, Equatable {
    enum Decision: String, Sendable {
        case approve, reject

        /// The state the transaction moves to.
        var state: TransactionState { self == .approve ? .approved : .rejected }
    }

    /// How the decision came. The raw channel names are what `update_approvals.via` records.
    enum Channel: Sendable, Equatable {
        /// A Telegram button pressed by this user, relayed by the worker.
        case telegram(userID: Int64)
        /// `autonousctl` run by this local user (authorised by SO_PEERCRED on the control socket).
        case shell(user: String)

        var name: String {
            switch self {
            case .telegram: "telegram"
            case .shell: "shell"
            }
        }
    }

    /// The transaction the admin saw.
    var transactionID: String
    /// The artifact sha256 the admin saw: the decision is bound to exactly this artifact.
    var artifactSHA256: String
    var decision: Decision
    var via: Channel

    init(transactionID: String, artifactSHA256: String, decision: Decision, via: Channel) {
        self.transactionID = transactionID
        self.artifactSHA256 = artifactSHA256
        self.decision = decision
        self.via = via
    }

    /// Who decided, as recorded: `telegram:<user id>` or `shell:<user>`.
    var decidedBy: String {
        switch via {
        case .telegram(let userID): "telegram:\(userID)"
        case .shell(let user): "shell:\(user)"
        }
    }
}

/// Which revision relayed a Telegram decision, and what the revision lifecycle says about it.
struct RelayTrust: Sendable, Equatable {
    /// The revision of the worker that relayed the request (nil: unknown).
    var relayingRevision: String?
    /// The promoted last-good revision (nil: none yet).
    var lastGood: String?
    /// The revision on probation now, if any.
    var probation: String?

    init(relayingRevision: String?, lastGood: String?, probation: String? = nil) {
        self.relayingRevision = relayingRevision
        self.lastGood = lastGood
        self.probation = probation
    }
}

/// Why an update decision was refused. Each message is one sentence naming the transaction and what to do.
enum UpdateApprovalError: Error, Equatable, CustomStringConvertible {
    /// The request names another transaction than the one checked (a caller's mistake).
    case wrongTransaction(requested: String, checked: String)
    /// The transaction is not waiting for a decision.
    case notStaged(String, state: TransactionState)
    /// The request names another artifact than the one staged.
    case artifactMismatch(String, expected: String, got: String)
    /// The approval deadline passed (the store records the transaction as expired).
    case expired(String, expiresMs: Int64)
    /// The Telegram sender is not in `AUTONOUS_TELEGRAM_ADMINS`.
    case notAnAdmin(userID: Int64)
    /// `AUTONOUS_UPDATE_APPROVAL=shell`: only `autonousctl` decides.
    case telegramDisabled(String)
    /// The relaying worker is not the promoted last-good revision.
    case untrustedRelay(relaying: String?, lastGood: String?, onProbation: Bool)

    var description: String {
        switch self {
        case .wrongTransaction(let requested, let checked):
            return "the decision names \(requested) but was checked against \(checked)"
        case .notStaged(let id, let state):
            return Self.notStagedSentence(id, state)
        case .artifactMismatch(let id, let expected, let got):
            return "the decision names artifact \(Self.prefix(got)), but \(id) staged \(Self.prefix(expected)): "
                + "decide on the artifact shown for it"
        case .expired(let id, let expiresMs):
            let date = Date(timeIntervalSince1970: Double(expiresMs) / 1000)
            return "the approval of \(id) expired at \(date.formatted(.iso8601)): it is now expired"
        case .notAnAdmin(let userID):
            return "Telegram user \(userID) is not in AUTONOUS_TELEGRAM_ADMINS and cannot decide on updates"
        case .telegramDisabled(let id):
            return "updates are decided only from a shell (AUTONOUS_UPDATE_APPROVAL=shell): "
                + "run autonousctl approve \(id) or autonousctl reject \(id)"
        case .untrustedRelay(let relaying, let lastGood, let onProbation):
            let worker = relaying.map { "revision \(Self.prefix($0))" } ?? "an unknown revision"
            let trusted =
                lastGood.map { "the promoted last-good revision \(Self.prefix($0))" }
                ?? "a promoted last-good revision (there is none yet)"
            let why = onProbation ? ", which is on probation" : ""
            return "the decision was relayed by \(worker)\(why); only \(trusted) may relay update decisions"
        }
    }

    /// The first 12 characters of a sha256, as the Telegram message and `autonousctl` show it.
    static func prefix(_ sha256: String) -> String {
        sha256.count > 12 ? String(sha256.prefix(12)) + "…" : sha256
    }

    private static func notStagedSentence(_ id: String, _ state: TransactionState) -> String {
        switch state {
        case .approved, .deploying, .probation, .promoted:
            return "transaction \(id) is already approved (it is \(state.rawValue))"
        case .rejected:
            return "transaction \(id) is already rejected"
        case .expired:
            return "transaction \(id) has expired: nobody decided before its deadline"
        case .created, .building, .testing, .selfChecking:
            return "transaction \(id) is not staged yet: it is \(state.rawValue)"
        default:
            return "transaction \(id) cannot be decided: it ended \(state.rawValue)"
        }
    }
}

/// The rules an update decision must pass before it is recorded: pure, so every refusal is tested without a
/// database. `TransactionStore.recordDecision` runs them inside its write transaction.
enum UpdateApproval {
    /// The approval deadline of a transaction staged at `stagedMs` (milliseconds since the epoch).
    static func deadline(stagedMs: Int64, ttl: Duration) -> Int64 {
        stagedMs + ttl.wholeMilliseconds
    }

    /// Checks `request` against `transaction` at `now` (milliseconds since the epoch).
    ///
    /// In this order: the request names this transaction; a Telegram request is allowed by `mode`, relayed by the
    /// promoted last-good revision (never one on probation) and sent by one of `admins`; the transaction is staged;
    /// its deadline (`expires_ms`, set from `AUTONOUS_UPDATE_APPROVAL_TTL` when it was staged) has not passed; the
    /// artifact sha256 matches. A shell request was authorised by the control socket and skips the Telegram checks.
    static func check(
        request: UpdateDecisionRequest, transaction: Transaction, now: Int64, admins: [Int64],
        mode: UpdateApprovalMode, relay: RelayTrust
    ) -> Result<Void, UpdateApprovalError> {
        let id = transaction.id
        guard request.transactionID == id else {
            return .failure(.wrongTransaction(requested: request.transactionID, checked: id))
        }
        if case .telegram(let userID) = request.via {
            guard mode == .telegram else { return .failure(.telegramDisabled(id)) }
            let onProbation = relay.probation != nil && relay.relayingRevision == relay.probation
            guard let relaying = relay.relayingRevision, relaying == relay.lastGood, !onProbation else {
                return .failure(
                    .untrustedRelay(
                        relaying: relay.relayingRevision, lastGood: relay.lastGood, onProbation: onProbation))
            }
            guard admins.contains(userID) else { return .failure(.notAnAdmin(userID: userID)) }
        }
        guard transaction.state == .staged else { return .failure(.notStaged(id, state: transaction.state)) }
        guard let expiresMs = transaction.expiresMs, now < expiresMs else {
            return .failure(.expired(id, expiresMs: transaction.expiresMs ?? transaction.updatedMs))
        }
        guard let staged = transaction.artifactSHA256, staged == request.artifactSHA256 else {
            return .failure(
                .artifactMismatch(id, expected: transaction.artifactSHA256 ?? "", got: request.artifactSHA256))
        }
        return .success(())
    }
}

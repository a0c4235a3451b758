import AutonousCore
import GRDB

/// One self-update transaction as the `transactions` table holds it now: the proposal (immutable) and what the
/// pipeline learnt about it so far.
struct Transaction: Sendable, Equatable {
    /// `tx-` and 8 characters of lowercase base32, such as `tx-k3m7qa2z`.
    var id: String
    var state: TransactionState
    var createdMs: Int64
    /// When the state or a field last changed: for a staged transaction, when it was staged.
    var updatedMs: Int64
    /// What was proposed: never changes.
    var proposal: Proposal
    /// The git commit of the built tree, once committed.
    var commit: String?
    /// The sha256 of the staged artifact: what an approval must name.
    var artifactSHA256: String?
    var diffstat: String?
    var testsPassed: Int?
    var testsFailed: Int?
    /// Why it last ended or moved, if it was said.
    var reason: String?
    /// The approval deadline in milliseconds since the epoch, set when it is staged.
    var expiresMs: Int64?

    /// What the agent proposed: the fields `TransactionStore.create` records and nothing ever changes.
    struct Proposal: Sendable, Equatable {
        var title: String
        var summary: String
        /// Who proposed it: `telegram:<user id>`, or `local` for a proposal without a Telegram sender.
        var requestedBy: String
        /// The agent run that proposed it, if any.
        var runID: String?
        /// The sha256 of the revision that ran when it was proposed: the patch is against its commit.
        var baseRevision: String
        var baseCommit: String
        /// The sha256 and size of the patch file the pipeline stores (the table holds no patch).
        var patchSHA256: String
        var patchBytes: Int64

        init(
            title: String, summary: String, requestedBy: String, runID: String? = nil, baseRevision: String,
            baseCommit: String, patchSHA256: String, patchBytes: Int64
        ) {
            self.title = title
            self.summary = summary
            self.requestedBy = requestedBy
            self.runID = runID
            self.baseRevision = baseRevision
            self.baseCommit = baseCommit
            self.patchSHA256 = patchSHA256
            self.patchBytes = patchBytes
        }
    }

    /// Fields a transition may set; nil leaves a field as it is.
    struct Update: Sendable, Equatable {
        var commit: String?
        var artifactSHA256: String?
        var diffstat: String?
        var testsPassed: Int?
        var testsFailed: Int?
        var expiresMs: Int64?

        init(
            commit: String? = nil, artifactSHA256: String? = nil, diffstat: String? = nil, testsPassed: Int? = nil,
            testsFailed: Int? = nil, expiresMs: Int64? = nil
        ) {
            self.commit = commit
            self.artifactSHA256 = artifactSHA256
            self.diffstat = diffstat
            self.testsPassed = testsPassed
            self.testsFailed = testsFailed
            self.expiresMs = expiresMs
        }
    }

    /// One row of `transaction_steps`: a state change, with its event.
    struct Step: Sendable, Equatable {
        var id: Int64
        var tx: String
        var tsMs: Int64
        /// Nil for the step that created the transaction.
        var from: TransactionState?
        var to: TransactionState
        var reason: String?
        var eventID: Int64?
    }

    /// Lowercase base32 (RFC 4648): the characters after `tx-`.
    static let idAlphabet = TransactionID.alphabet

    /// A new random id: `tx-` and 8 base32 characters (40 bits).
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "tx-" + String((0 ..< 8).map { _ in idAlphabet[Int(generator.next(upperBound: UInt(32)))] })
    }

    /// True when `text` could be a transaction id (`TransactionID.isWellFormed`): never a tool-approval id.
    static func isWellFormedID(_ text: String) -> Bool {
        TransactionID.isWellFormed(text)
    }

    init(row: Row) throws {
        let stateText: String = row["state"]
        guard let state = TransactionState(rawValue: stateText) else {
            throw AutonousError(
                .database, "the transaction \(row["id"] as String) has an unknown state '\(stateText)'")
        }
        id = row["id"]
        self.state = state
        createdMs = row["created_ms"]
        updatedMs = row["updated_ms"]
        proposal = Proposal(
            title: row["title"], summary: row["summary"], requestedBy: row["requested_by"], runID: row["run_id"],
            baseRevision: row["base_revision"], baseCommit: row["base_commit"], patchSHA256: row["patch_sha256"],
            patchBytes: row["patch_bytes"])
        commit = row["commit"]
        artifactSHA256 = row["artifact_sha256"]
        diffstat = row["diffstat"]
        testsPassed = row["tests_passed"]
        testsFailed = row["tests_failed"]
        reason = row["reason"]
        expiresMs = row["expires_ms"]
    }
}

extension Transaction.Step {
    init(row: Row) throws {
        let fromText: String? = row["from_state"]
        let toText: String = row["to_state"]
        let from = try fromText.map { text in
            guard let state = TransactionState(rawValue: text) else {
                throw AutonousError(.database, "the transaction step \(row["id"] as Int64) has an unknown state")
            }
            return state
        }
        guard let to = TransactionState(rawValue: toText) else {
            throw AutonousError(.database, "the transaction step \(row["id"] as Int64) has an unknown state")
        }
        self.init(
            id: row["id"], tx: row["tx"], tsMs: row["ts_ms"], from: from, to: to, reason: row["reason"],
            eventID: row["event_id"])
    }
}

/// Why the store refused a state change. Each message names the transaction and the state it is in.
enum TransactionError: Error, Equatable, CustomStringConvertible {
    /// No transaction has this id.
    case notFound(String)
    /// `to` may not follow `from`.
    case illegalTransition(String, from: TransactionState, to: TransactionState)
    /// Approved and rejected are reached only through `recordDecision`, which checks who decided.
    case decisionRequired(String, to: TransactionState)
    /// Another transaction is in flight: one pipeline at a time.
    case busy(String, running: String, state: TransactionState)
    /// A state needs a field the transaction does not have (staged needs an artifact, commit and deadline).
    case missingField(String, state: TransactionState, field: String)

    var description: String {
        switch self {
        case .notFound(let id):
            "no transaction \(id): see autonousctl transactions"
        case .illegalTransition(let id, let from, let to):
            "transaction \(id) is \(from.rawValue) and cannot become \(to.rawValue)"
        case .decisionRequired(let id, let to):
            "transaction \(id) can become \(to.rawValue) only by an admin's decision"
        case .busy(let id, let running, let state):
            "transaction \(id) must wait: \(running) is \(state.rawValue), and one update runs at a time"
        case .missingField(let id, let state, let field):
            "transaction \(id) cannot become \(state.rawValue) without \(field)"
        }
    }
}

import AutonousCore

/// The state of a self-update transaction. The raw values are what the `transactions` table, the events
/// (`update.<state>`) and `autonousctl transactions` show; they are spelled as in ARCHITECTURE.md.
///
/// The way through: `created → building → testing → self_checking → staged → approved → deploying → probation →
/// promoted`. Every other state is an end. `legalNext` is the only place that says which step may follow which.
enum TransactionState: String, Sendable, CaseIterable, Codable {
    /// Proposed and queued: the patch is stored, nothing has run yet.
    case created
    /// The patch is applied and committed in `builds/<tx>`, and the build command runs.
    case building
    /// The test command runs.
    case testing
    /// The new binary's `--self-check` runs.
    case selfChecking = "self_checking"
    /// Imported as a content-addressed artifact: it waits for an admin until `expires_ms`.
    case staged
    /// An admin approved this artifact: it waits for the deployer.
    case approved
    /// The old worker stops and `current` flips to the artifact.
    case deploying
    /// The new revision runs under watch.
    case probation
    /// It passed probation and is last-good. Only a rollback moves it on.
    case promoted

    /// The patch did not apply or the build failed (or the supervisor restarted during either).
    case buildFailed = "build_failed"
    /// The tests failed (or the supervisor restarted during them).
    case testFailed = "test_failed"
    /// The new binary's self-check failed (or the supervisor restarted during it).
    case selfCheckFailed = "self_check_failed"
    /// An admin rejected it.
    case rejected
    /// Nobody approved it, or nobody deployed the approval, before its deadline.
    case expired
    /// Another revision became current first, so its base is no longer what runs.
    case superseded
    /// The artifact did not verify or could not be started.
    case deployFailed = "deploy_failed"
    /// It failed probation and the last-good revision runs again.
    case reverted
    /// It was promoted, and later an operator or admin rolled back past it.
    case rolledBack = "rolled_back"

    /// Which states may follow which: the only legal transitions.
    ///
    /// Besides the way through and its ends, decided here: `created → build_failed`, for a patch that does not apply
    /// in a fresh worktree (before any build runs) and for a start interrupted before `building` was recorded. A
    /// staged artifact that is not approved in time, or an approval not deployed in time, is `expired`; a `staged` or
    /// `approved` one whose base is no longer current, and a `created` one that waited too long for the same reason,
    /// is `superseded`.
    static let legalNext: [TransactionState: Set<TransactionState>] = [
        .created: [.building, .buildFailed, .superseded],
        .building: [.testing, .buildFailed],
        .testing: [.selfChecking, .testFailed],
        .selfChecking: [.staged, .selfCheckFailed],
        .staged: [.approved, .rejected, .expired, .superseded],
        .approved: [.deploying, .expired, .superseded],
        .deploying: [.probation, .deployFailed],
        .probation: [.promoted, .reverted],
        .promoted: [.rolledBack],
    ]

    /// True when `next` may follow this state.
    func canMove(to next: TransactionState) -> Bool {
        Self.legalNext[self]?.contains(next) ?? false
    }

    /// True when no transition leads out of this state. `promoted` is not terminal: a rollback can still end it.
    var isTerminal: Bool {
        Self.legalNext[self]?.isEmpty ?? true
    }

    /// True while the pipeline or the deployer works on the transaction: at most one is in flight at a time.
    var isInFlight: Bool {
        switch self {
        case .building, .testing, .selfChecking, .deploying, .probation: true
        default: false
        }
    }

    /// True for the states only an admin's decision reaches (`TransactionStore.recordDecision`).
    var needsDecision: Bool {
        self == .approved || self == .rejected
    }

    /// The type of the event recorded when a transaction enters this state (`update.<state>`).
    var eventType: EventType {
        switch self {
        case .created: .updateCreated
        case .building: .updateBuilding
        case .testing: .updateTesting
        case .selfChecking: .updateSelfChecking
        case .staged: .updateStaged
        case .approved: .updateApproved
        case .deploying: .updateDeploying
        case .probation: .updateProbation
        case .promoted: .updatePromoted
        case .buildFailed: .updateBuildFailed
        case .testFailed: .updateTestFailed
        case .selfCheckFailed: .updateSelfCheckFailed
        case .rejected: .updateRejected
        case .expired: .updateExpired
        case .superseded: .updateSuperseded
        case .deployFailed: .updateDeployFailed
        case .reverted: .updateReverted
        case .rolledBack: .updateRolledBack
        }
    }
}

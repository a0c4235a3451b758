/// The self-update part of `io.autonous.Worker`: the agent's working copy of autonous and its proposals. The
/// worker can only propose; the supervisor checks, builds, tests and stages, and an admin decides.
extension WorkerInterface {
    static let updateMethods = """
        # The agent's working copy of autonous: the running revision's commit, cloned into the workspace at path
        # (relative to the workspace) when nothing is there yet (created says so). The clone runs sandboxed as the
        # worker's user; an existing directory is left as it is.
        method PrepareWorkingCopy() -> (commit: string, path: string, created: bool)

        # Proposes a self-update: patch is `git diff --binary` of the working copy against base (the commit
        # PrepareWorkingCopy named), summary and title describe it, runId is the agent run that proposed it and
        # requestedBy who asked (telegram:<user id> or local). The reply names the new transaction, its state
        # (created, or queued behind another) and what happens next, in one sentence for the model.
        method ProposeUpdate(
          patch: string,
          base: string,
          summary: string,
          title: ?string,
          runId: ?string,
          requestedBy: string
        ) -> (tx: string, state: string, message: string)

        # A Telegram user pressed Approve or Reject on a staged self-update, relayed for the supervisor to check:
        # requestedBy is the sender's Telegram user id, tx and sha256 what the button named. The supervisor checks
        # the sender against AUTONOUS_TELEGRAM_ADMINS, the tx and sha256 against the staged artifact, the deadline,
        # AUTONOUS_UPDATE_APPROVAL, and that this worker is the promoted last-good revision (not one on probation).
        # The reply is the transaction's state afterwards and one sentence for the user.
        method DecideUpdate(tx: string, sha256: string, approve: bool, requestedBy: int) -> (state: string, message: string)

        # The decision was refused: message says why, naming the transaction.
        error UpdateDecisionRefused (message: string)

        # The proposal was refused before any transaction existed: message says why (empty, too large, touches
        # files outside the repository, does not apply, the base is not the running commit, no source).
        error UpdateRefused (message: string)
        """

    public struct WorkingCopy: Codable, Sendable, Equatable {
        /// The full commit id the working copy started from.
        public var commit: String
        /// The working copy's directory, relative to the workspace.
        public var path: String
        public var created: Bool

        public init(commit: String, path: String, created: Bool) {
            self.commit = commit
            self.path = path
            self.created = created
        }
    }

    public struct ProposeUpdateRequest: Codable, Sendable, Equatable {
        public var patch: String
        public var base: String
        public var summary: String
        public var title: String?
        public var runId: String?
        public var requestedBy: String

        public init(
            patch: String, base: String, summary: String, title: String?, runId: String?, requestedBy: String
        ) {
            self.patch = patch
            self.base = base
            self.summary = summary
            self.title = title
            self.runId = runId
            self.requestedBy = requestedBy
        }
    }

    public struct DecideUpdateRequest: Codable, Sendable, Equatable {
        public var tx: String
        public var sha256: String
        public var approve: Bool
        public var requestedBy: Int64

        public init(tx: String, sha256: String, approve: Bool, requestedBy: Int64) {
            self.tx = tx
            self.sha256 = sha256
            self.approve = approve
            self.requestedBy = requestedBy
        }
    }

    public struct DecideUpdateReply: Codable, Sendable, Equatable {
        public var state: String
        public var message: String

        public init(state: String, message: String) {
            self.state = state
            self.message = message
        }
    }

    public struct ProposeUpdateReply: Codable, Sendable, Equatable {
        public var tx: String
        public var state: String
        public var message: String

        public init(tx: String, state: String, message: String) {
            self.tx = tx
            self.state = state
            self.message = message
        }
    }
}

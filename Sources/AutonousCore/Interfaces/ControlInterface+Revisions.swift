/// The revision part of `io.autonous.Control`: artifacts, deploys, rollbacks and their state in `status`.
extension ControlInterface {
    static let revisionTypes = """
        # A worker revision: the artifact $AUTONOUS_STATE_DIR/artifacts/<sha256>/ with its manifest. source is
        # bootstrap, operator or self-update. state is its last recorded state: probation, promoted, reverted,
        # refused (its file did not verify, or it could not be deployed) or retired; current and lastGood say what
        # the two symlinks name. changedMs and reason belong to that last state change. Times are Unix milliseconds.
        type Revision (
          sha256: string,
          source: string,
          gitCommit: ?string,
          builtMs: ?int,
          importedMs: int,
          toolchain: ?string,
          testsPassed: ?int,
          testsFailed: ?int,
          baseRevision: ?string,
          note: ?string,
          state: string,
          current: bool,
          lastGood: bool,
          changedMs: int,
          reason: ?string
        )

        # A revision on probation: remainingMs until promotion once it is ready (null before it is), and the
        # checks it passed so far (self-check, ready).
        type Probation (
          revision: string,
          startedMs: int,
          remainingMs: ?int,
          checksPassed: []string
        )

        # The revisions the supervisor runs and falls back to. previousGood is the last-good before the current
        # one (N-1, what a rollback returns to). restartsInWindow counts worker restarts within the crash-loop
        # window. degraded says why the service runs below its promise (the last-good itself fails, or the
        # sandbox cannot be set up); null when it does not.
        type RevisionsStatus (
          current: ?string,
          lastGood: ?string,
          previousGood: ?string,
          probation: ?Probation,
          restartsInWindow: int,
          degraded: ?string
        )
        """

    static let revisionMethods = """
        # Every revision the supervisor keeps, newest first.
        method ListRevisions() -> (revisions: []Revision)

        # Imports the executable at path (an absolute path the supervisor reads) as an operator revision and deploys
        # it through probation. Without wait the reply comes once the deploy started; with wait, once the revision
        # was promoted or reverted: outcome is "promoted" or "reverted" and reason says why it was reverted.
        method Deploy(path: string, note: ?string, wait: ?bool) -> (revision: Revision, outcome: ?string, reason: ?string)

        # Starts an earlier revision in place of the current one: to is a sha256 or a unique prefix of at least 8
        # hex digits; without it, the previous last-good. The revision is verified first and then runs as
        # current and last-good.
        method Rollback(to: ?string) -> (revision: Revision, message: string)

        # No revision matches.
        error NoSuchRevision (revision: string)

        # The prefix matches more than one revision.
        error AmbiguousRevision (revision: string, matches: []string)

        # The revision cannot be deployed or rolled back to: message says why (its file does not verify, the path
        # is not an executable, another deploy is on probation, nothing older to roll back to).
        error RevisionRefused (message: string)
        """

    public struct Revision: Codable, Sendable, Equatable {
        public var sha256: String
        public var source: String
        public var gitCommit: String?
        public var builtMs: Int64?
        public var importedMs: Int64
        public var toolchain: String?
        public var testsPassed: Int?
        public var testsFailed: Int?
        public var baseRevision: String?
        public var note: String?
        public var state: String
        public var current: Bool
        public var lastGood: Bool
        public var changedMs: Int64
        public var reason: String?

        public init(
            sha256: String, source: String, gitCommit: String? = nil, builtMs: Int64? = nil, importedMs: Int64,
            toolchain: String? = nil, testsPassed: Int? = nil, testsFailed: Int? = nil, baseRevision: String? = nil,
            note: String? = nil, state: String, current: Bool, lastGood: Bool, changedMs: Int64, reason: String? = nil
        ) {
            self.sha256 = sha256
            self.source = source
            self.gitCommit = gitCommit
            self.builtMs = builtMs
            self.importedMs = importedMs
            self.toolchain = toolchain
            self.testsPassed = testsPassed
            self.testsFailed = testsFailed
            self.baseRevision = baseRevision
            self.note = note
            self.state = state
            self.current = current
            self.lastGood = lastGood
            self.changedMs = changedMs
            self.reason = reason
        }
    }

    public struct Probation: Codable, Sendable, Equatable {
        public var revision: String
        public var startedMs: Int64
        public var remainingMs: Int64?
        public var checksPassed: [String]

        public init(revision: String, startedMs: Int64, remainingMs: Int64?, checksPassed: [String]) {
            self.revision = revision
            self.startedMs = startedMs
            self.remainingMs = remainingMs
            self.checksPassed = checksPassed
        }
    }

    public struct RevisionsStatus: Codable, Sendable, Equatable {
        public var current: String?
        public var lastGood: String?
        public var previousGood: String?
        public var probation: Probation?
        public var restartsInWindow: Int
        public var degraded: String?

        public init(
            current: String?, lastGood: String?, previousGood: String?, probation: Probation?, restartsInWindow: Int,
            degraded: String?
        ) {
            self.current = current
            self.lastGood = lastGood
            self.previousGood = previousGood
            self.probation = probation
            self.restartsInWindow = restartsInWindow
            self.degraded = degraded
        }
    }

    public struct RevisionList: Codable, Sendable, Equatable {
        public var revisions: [Revision]

        public init(revisions: [Revision]) {
            self.revisions = revisions
        }
    }

    public struct DeployRequest: Codable, Sendable, Equatable {
        public var path: String
        public var note: String?
        public var wait: Bool?

        public init(path: String, note: String?, wait: Bool?) {
            self.path = path
            self.note = note
            self.wait = wait
        }
    }

    public struct DeployResponse: Codable, Sendable, Equatable {
        public var revision: Revision
        /// `promoted` or `reverted`, when the caller waited.
        public var outcome: String?
        public var reason: String?

        public init(revision: Revision, outcome: String?, reason: String?) {
            self.revision = revision
            self.outcome = outcome
            self.reason = reason
        }
    }

    public struct RollbackRequest: Codable, Sendable, Equatable {
        public var to: String?

        public init(to: String?) {
            self.to = to
        }
    }

    public struct RollbackResponse: Codable, Sendable, Equatable {
        public var revision: Revision
        public var message: String

        public init(revision: Revision, message: String) {
            self.revision = revision
            self.message = message
        }
    }
}

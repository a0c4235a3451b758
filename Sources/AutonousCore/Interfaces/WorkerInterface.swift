/// Types and IDL of `io.autonous.Worker`, spoken between the supervisor and the worker it spawned on worker.sock.
public enum WorkerInterface {
    public static let name = "io.autonous.Worker"

    /// The interface in varlink IDL.
    public static let description = """
        # Between the autonous supervisor and the worker it spawned. Only that worker may connect.
        interface io.autonous.Worker

        # Progress counters a worker reports with each heartbeat.
        \(countersType("Counters"))

        # Something the supervisor asks of the worker: kind is "chat" (a local chat message, answered with
        # ChatReply), "decide" (an operator's decision on a tool approval, to record and answer with
        # DecisionReply), "admins" (text to send every Telegram admin, such as why a revision was reverted;
        # no answer), "tell" (text to send the Telegram user conversation names, telegram:<user id>, such as how
        # the self-update they proposed ended; no answer), "end" (the stream ends) or "shutdown". id names the notice in the answer. An "admins" notice
        # about a staged self-update names updateTx and updateSha256: the message gets Approve and Reject buttons,
        # whose presses the worker relays with DecideUpdate.
        type Notice (
          kind: string,
          id: ?string,
          text: ?string,
          conversation: ?string,
          approvalId: ?string,
          approve: ?bool,
          decidedBy: ?string,
          updateTx: ?string,
          updateSha256: ?string
        )

        \(ControlInterface.approvalType("Approval"))

        # First call of a new worker: who it is. The reply places its events under the spawn event.
        method Hello(revision: string, pid: int, version: string) -> (
          parentEventId: int,
          heartbeatIntervalMs: int
        )

        # The worker finished starting and takes work.
        method Ready() -> ()

        # The worker is alive; sent every heartbeatIntervalMs.
        method Heartbeat(counters: Counters) -> ()

        # Streams notices to the worker (call with more: true).
        method Subscribe() -> (notice: Notice)

        # The answer to a chat notice: text, or error when it failed.
        method ChatReply(id: string, text: ?string, error: ?string, runId: ?string) -> ()

        # What the worker recorded for a decide notice: outcome is decided, not_found, already_decided, expired
        # (the deadline had passed; the expiry is now recorded) or failed (error says why); approval is the
        # approval as it is now.
        method DecisionReply(id: string, outcome: string, approval: ?Approval, error: ?string) -> ()

        # A Telegram admin's /rollback, relayed for the supervisor to check and carry out: requestedBy is the
        # sender's Telegram user id, target a revision's sha256 or a prefix of it (absent: the previous
        # last-good). The reply names the revision now starting.
        method RequestRollback(requestedBy: int, target: ?string) -> (revision: string, message: string)

        \(updateMethods)

        # The caller is not the worker this supervisor spawned.
        error NotYourWorker (pid: int)

        # Hello named another revision than the one the supervisor started.
        error WrongRevision (expected: string, claimed: string)

        # The sender of a relayed request is not in AUTONOUS_TELEGRAM_ADMINS.
        error NotAnAdmin (requestedBy: int)

        # A rollback was refused: no such revision, it does not verify, or nothing to roll back to.
        error RollbackRefused (message: string)

        # The chat notice is unknown or already answered.
        error UnknownChat (id: string)

        # The decide notice is unknown or already answered (its caller gave up).
        error UnknownDecision (id: string)

        error InternalError (message: string)
        """

    /// The IDL of `Counters` under `name` (`io.autonous.Control` shows the same fields as `WorkerProgress`).
    public static func countersType(_ name: String) -> String {
        """
        # Times are Unix milliseconds; the optional fields are absent from workers older than them.
        #   lastPollCompletedMs: the last Telegram getUpdates that completed (with updates or empty)
        #   lastPollAttemptMs: the last getUpdates that ended, completed or failed by Telegram or the network (the
        #     poller is alive; an outage is not a stuck worker)
        #   runsInFlight: agent runs started and not yet ended
        #   outboxBacklog: reply chunks neither sent nor failed
        #   oldestUnansweredMs: when the oldest queued or in-progress message arrived; null when none waits
        type \(name) (
          updatesReceived: int,
          messagesAnswered: int,
          modelFailures: int,
          inboxQueued: int,
          lastError: ?string,
          lastPollCompletedMs: ?int,
          lastPollAttemptMs: ?int,
          runsInFlight: ?int,
          outboxBacklog: ?int,
          oldestUnansweredMs: ?int
        )
        """
    }

    public struct Hello: Codable, Sendable, Equatable {
        public var revision: String
        public var pid: Int
        public var version: String

        public init(revision: String, pid: Int, version: String) {
            self.revision = revision
            self.pid = pid
            self.version = version
        }
    }

    public struct HelloReply: Codable, Sendable, Equatable {
        public var parentEventId: Int64
        public var heartbeatIntervalMs: Int

        public init(parentEventId: Int64, heartbeatIntervalMs: Int) {
            self.parentEventId = parentEventId
            self.heartbeatIntervalMs = heartbeatIntervalMs
        }
    }

    /// What a heartbeat reports; see the IDL for each field's meaning.
    public struct Counters: Codable, Sendable, Equatable {
        public var updatesReceived: Int
        public var messagesAnswered: Int
        public var modelFailures: Int
        public var inboxQueued: Int
        public var lastError: String?
        /// Unix milliseconds of the last completed getUpdates (with updates or empty).
        public var lastPollCompletedMs: Int64?
        /// Unix milliseconds of the last getUpdates that ended, completed or failed by Telegram or the network.
        public var lastPollAttemptMs: Int64?
        /// Agent runs started and not yet ended.
        public var runsInFlight: Int?
        /// Reply chunks neither sent nor failed.
        public var outboxBacklog: Int?
        /// Unix milliseconds when the oldest queued or in-progress message arrived; nil when none waits.
        public var oldestUnansweredMs: Int64?

        public init(
            updatesReceived: Int = 0, messagesAnswered: Int = 0, modelFailures: Int = 0, inboxQueued: Int = 0,
            lastError: String? = nil, lastPollCompletedMs: Int64? = nil, runsInFlight: Int? = nil,
            outboxBacklog: Int? = nil, oldestUnansweredMs: Int64? = nil, lastPollAttemptMs: Int64? = nil
        ) {
            self.lastPollAttemptMs = lastPollAttemptMs
            self.updatesReceived = updatesReceived
            self.messagesAnswered = messagesAnswered
            self.modelFailures = modelFailures
            self.inboxQueued = inboxQueued
            self.lastError = lastError
            self.lastPollCompletedMs = lastPollCompletedMs
            self.runsInFlight = runsInFlight
            self.outboxBacklog = outboxBacklog
            self.oldestUnansweredMs = oldestUnansweredMs
        }
    }

    public struct Heartbeat: Codable, Sendable, Equatable {
        public var counters: Counters

        public init(counters: Counters) {
            self.counters = counters
        }
    }

    public struct Notice: Codable, Sendable, Equatable {
        public var kind: String
        public var id: String?
        public var text: String?
        public var conversation: String?
        /// For "decide": the approval, the decision, and who decided (derived by the supervisor from SO_PEERCRED).
        public var approvalId: String?
        public var approve: Bool?
        public var decidedBy: String?
        /// For an "admins" notice about a staged self-update: the transaction and its artifact's sha256, which the
        /// Approve and Reject buttons name.
        public var updateTx: String?
        public var updateSha256: String?

        /// A staged self-update left `staged` other than by a button (`updateTx`, `updateSha256`): its messages
        /// lose their buttons and end with `text`.
        public static let updateClosedKind = "update_closed"

        public init(
            kind: String, id: String? = nil, text: String? = nil, conversation: String? = nil,
            approvalId: String? = nil, approve: Bool? = nil, decidedBy: String? = nil, updateTx: String? = nil,
            updateSha256: String? = nil
        ) {
            self.kind = kind
            self.id = id
            self.text = text
            self.conversation = conversation
            self.approvalId = approvalId
            self.approve = approve
            self.decidedBy = decidedBy
            self.updateTx = updateTx
            self.updateSha256 = updateSha256
        }
    }

    public struct NoticeReply: Codable, Sendable, Equatable {
        public var notice: Notice

        public init(notice: Notice) {
            self.notice = notice
        }
    }

    /// What the worker recorded for a "decide" notice.
    public struct DecisionReply: Codable, Sendable, Equatable {
        public enum Outcome: String, Codable, Sendable {
            case decided
            case notFound = "not_found"
            case alreadyDecided = "already_decided"
            case expired
            case failed
        }

        public var id: String
        public var outcome: Outcome
        public var approval: ControlInterface.ApprovalInfo?
        public var error: String?

        public init(id: String, outcome: Outcome, approval: ControlInterface.ApprovalInfo?, error: String? = nil) {
            self.id = id
            self.outcome = outcome
            self.approval = approval
            self.error = error
        }

        /// The reply for what `Approvals.decide` returned.
        public init(id: String, _ decision: ApprovalDecision) {
            switch decision {
            case .decided(let approval): self.init(id: id, outcome: .decided, approval: .init(approval))
            case .notFound: self.init(id: id, outcome: .notFound, approval: nil)
            case .alreadyDecided(let approval): self.init(id: id, outcome: .alreadyDecided, approval: .init(approval))
            case .expired(let approval): self.init(id: id, outcome: .expired, approval: .init(approval))
            }
        }
    }

    public struct ChatReply: Codable, Sendable, Equatable {
        public var id: String
        public var text: String?
        public var error: String?
        public var runId: String?

        public init(id: String, text: String?, error: String?, runId: String?) {
            self.id = id
            self.text = text
            self.error = error
            self.runId = runId
        }
    }
}

extension WorkerInterface {
    /// A Telegram admin's /rollback, relayed to the supervisor.
    public struct RollbackRequest: Codable, Sendable, Equatable {
        public var requestedBy: Int64
        public var target: String?

        public init(requestedBy: Int64, target: String?) {
            self.requestedBy = requestedBy
            self.target = target
        }
    }

    public struct RollbackReply: Codable, Sendable, Equatable {
        /// The full sha256 of the revision now starting.
        public var revision: String
        /// One sentence for the admin.
        public var message: String

        public init(revision: String, message: String) {
            self.revision = revision
            self.message = message
        }
    }
}

/// The one sentence the agent answers with when no model is configured, naming what to set.
public enum ModelSetupHint {
    public static let sentence =
        "No model is configured yet: set OPENAI_API_KEY (or AUTONOUS_OPENAI_BASE_URL for a local "
        + "OpenAI-compatible server) and restart autonous."
}

/// The version string every autonous executable reports.
public enum AutonousVersion {
    public static let current = "0.1.0"
}

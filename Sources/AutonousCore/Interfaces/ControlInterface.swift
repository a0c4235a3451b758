/// Types and IDL of `io.autonous.Control`, the operators' interface on control.sock.
public enum ControlInterface {
    public static let name = "io.autonous.Control"

    /// The interface in varlink IDL, as `GetInterfaceDescription` returns it.
    public static let description = """
        # The autonous supervisor's control interface, for operators (autonousctl) and any varlink client.
        interface io.autonous.Control

        # The supervisor process.
        type SupervisorStatus (
          pid: int,
          version: string,
          state: string,
          uptimeSeconds: int
        )

        # What the worker reported with its last heartbeat.
        \(WorkerInterface.countersType("WorkerProgress"))

        # The worker process: state is one of starting, ready, stopping, backoff, stopped.
        # heartbeatAgeMs and progress come from the current worker's last heartbeat (null before its first).
        type WorkerStatus (
          state: string,
          pid: ?int,
          revision: ?string,
          uptimeSeconds: ?int,
          restarts: int,
          consecutiveFailures: int,
          lastError: ?string,
          lastExit: ?string,
          nextRestartInMs: ?int,
          heartbeatAgeMs: ?int,
          progress: ?WorkerProgress
        )

        # Telegram updates stored in the inbox, by processing state.
        type InboxStatus (
          queued: int,
          inProgress: int,
          failed: int,
          done: int
        )

        # The chat-completions model the worker uses. provider is the provider of the latest model call (openai,
        # scripted), or the configured one before any call. lastFatalError is the error of the latest model call
        # when it failed with the error class fatal (only an operator can fix it: a refused key, an unknown model),
        # and lastFatalErrorMs when that was.
        type ModelStatus (
          configured: bool,
          model: string,
          baseURL: string,
          hint: ?string,
          provider: ?string,
          lastFatalError: ?string,
          lastFatalErrorMs: ?int
        )

        type TelegramStatus (
          enabled: bool,
          allowedUsers: int
        )

        # How the worker is confined: the launcher, and how its memory and pids limits are enforced.
        type SandboxStatus (
          launcher: string,
          limits: string,
          problems: []string
        )

        \(revisionTypes)

        \(transactionTypes)

        \(runTypes)

        # Everything `autonousctl status` shows.
        method GetStatus() -> (
          supervisor: SupervisorStatus,
          worker: WorkerStatus,
          inbox: InboxStatus,
          model: ModelStatus,
          telegram: TelegramStatus,
          sandbox: SandboxStatus,
          revisions: ?RevisionsStatus
        )

        \(revisionMethods)

        \(transactionMethods)

        \(runMethods)

        # Sends a message to the agent through the local commander and waits for its answer.
        method Chat(text: string, conversation: ?string) -> (reply: string, runId: ?string)

        \(approvalType("Approval"))

        # Approvals still waiting for a decision, oldest first.
        method ListApprovals() -> (approvals: []Approval)

        # Approves (approve: true) or rejects a pending approval; the caller is recorded as the decider.
        method DecideApproval(id: string, approve: bool) -> (approval: Approval)

        # No approval has this id.
        error NoSuchApproval (id: string)

        # The approval was already decided (or expired) before this decision.
        error ApprovalNotPending (id: string, status: string, decidedBy: ?string)

        # The approval's deadline passed; it is now recorded as expired.
        error ApprovalExpired (id: string, expiresMs: int)

        # No worker is connected and ready to take the message (or to record the decision).
        error WorkerUnavailable (reason: string)

        # The worker took the message but could not answer it.
        error ChatFailed (message: string)

        # One event of either log. source is "supervisor" (autonous.db) or "worker" (worker/worker.db); the two
        # logs' ids never overlap, so parentId names one event of either. tsMs is Unix milliseconds.
        type Event (
          id: int,
          tsMs: int,
          source: string,
          parentId: ?int,
          runId: ?string,
          conversationId: ?string,
          type: string,
          payload: object
        )

        # A position in both logs: the last event id read from each (0 for none yet).
        type EventCursor (
          supervisor: int,
          worker: int
        )

        # The events of both logs merged by time (tsMs, then id), oldest first. Filters: sinceMs (events at or
        # after it), types (each an exact type such as worker.ready, or a prefix ending in '.' or '*' such as
        # approval. or approval.*; any may match), runId, conversationId. limit is 1 to 10000 (default 200).
        # Without after: the most recent limit matching events and a cursor at the end of both logs. With after: the
        # first limit matching events recorded after that cursor, and the cursor after them.
        # With more: true, the first reply is that page, and every later reply carries the events recorded since
        # (each reply's cursor follows its events) until the caller hangs up.
        method GetEvents(
          sinceMs: ?int,
          types: ?[]string,
          runId: ?string,
          conversationId: ?string,
          limit: ?int,
          after: ?EventCursor
        ) -> (events: []Event, cursor: EventCursor)

        # The request was well-formed but a parameter's value is not acceptable.
        error InvalidValue (parameter: string, message: string)

        error InternalError (message: string)
        """

    /// The IDL of `Approval` under `name` (`io.autonous.Worker` carries the same fields in `DecisionReply`).
    public static func approvalType(_ name: String) -> String {
        """
        # A request for an admin's decision: a tool call with its exact arguments, bound to their SHA-256.
        # status is one of pending, approved, rejected, expired; times are Unix milliseconds.
        type \(name) (
          id: string,
          kind: string,
          subject: string,
          tier: ?string,
          summary: string,
          arguments: string,
          argumentsSha256: string,
          status: string,
          createdMs: int,
          expiresMs: int,
          decidedBy: ?string,
          decidedVia: ?string
        )
        """
    }

    public struct SupervisorStatus: Codable, Sendable, Equatable {
        public var pid: Int
        public var version: String
        public var state: String
        public var uptimeSeconds: Int

        public init(pid: Int, version: String, state: String, uptimeSeconds: Int) {
            self.pid = pid
            self.version = version
            self.state = state
            self.uptimeSeconds = uptimeSeconds
        }
    }

    public struct WorkerStatus: Codable, Sendable, Equatable {
        public var state: String
        public var pid: Int?
        public var revision: String?
        public var uptimeSeconds: Int?
        public var restarts: Int
        public var consecutiveFailures: Int
        public var lastError: String?
        public var lastExit: String?
        public var nextRestartInMs: Int?
        /// Milliseconds since the current worker's last heartbeat; nil before its first.
        public var heartbeatAgeMs: Int?
        /// What that heartbeat reported (`WorkerProgress` in the IDL).
        public var progress: WorkerInterface.Counters?

        public init(
            state: String, pid: Int? = nil, revision: String? = nil, uptimeSeconds: Int? = nil, restarts: Int = 0,
            consecutiveFailures: Int = 0, lastError: String? = nil, lastExit: String? = nil,
            nextRestartInMs: Int? = nil, heartbeatAgeMs: Int? = nil, progress: WorkerInterface.Counters? = nil
        ) {
            self.state = state
            self.pid = pid
            self.revision = revision
            self.uptimeSeconds = uptimeSeconds
            self.restarts = restarts
            self.consecutiveFailures = consecutiveFailures
            self.lastError = lastError
            self.lastExit = lastExit
            self.nextRestartInMs = nextRestartInMs
            self.heartbeatAgeMs = heartbeatAgeMs
            self.progress = progress
        }
    }

    public struct ModelStatus: Codable, Sendable, Equatable {
        public var configured: Bool
        public var model: String
        public var baseURL: String
        public var hint: String?
        /// The provider of the latest model call, or the configured one before any call.
        public var provider: String?
        /// The latest model call's error when it failed with the error class `fatal`, and when that was.
        public var lastFatalError: String?
        public var lastFatalErrorMs: Int64?

        public init(
            configured: Bool, model: String, baseURL: String, hint: String?, provider: String? = nil,
            lastFatalError: String? = nil, lastFatalErrorMs: Int64? = nil
        ) {
            self.configured = configured
            self.model = model
            self.baseURL = baseURL
            self.hint = hint
            self.provider = provider
            self.lastFatalError = lastFatalError
            self.lastFatalErrorMs = lastFatalErrorMs
        }
    }

    public struct TelegramStatus: Codable, Sendable, Equatable {
        public var enabled: Bool
        public var allowedUsers: Int

        public init(enabled: Bool, allowedUsers: Int) {
            self.enabled = enabled
            self.allowedUsers = allowedUsers
        }
    }

    public struct SandboxStatus: Codable, Sendable, Equatable {
        public var launcher: String
        /// How memory and pids limits are enforced, in a few words.
        public var limits: String
        /// Missing or limited features, each with what to do.
        public var problems: [String]

        public init(launcher: String, limits: String, problems: [String]) {
            self.launcher = launcher
            self.limits = limits
            self.problems = problems
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var supervisor: SupervisorStatus
        public var worker: WorkerStatus
        public var inbox: InboxCounts
        public var model: ModelStatus
        public var telegram: TelegramStatus
        public var sandbox: SandboxStatus
        public var revisions: RevisionsStatus?

        public init(
            supervisor: SupervisorStatus, worker: WorkerStatus, inbox: InboxCounts, model: ModelStatus,
            telegram: TelegramStatus, sandbox: SandboxStatus, revisions: RevisionsStatus? = nil
        ) {
            self.revisions = revisions
            self.supervisor = supervisor
            self.worker = worker
            self.inbox = inbox
            self.model = model
            self.telegram = telegram
            self.sandbox = sandbox
        }
    }

    public struct ApprovalInfo: Codable, Sendable, Equatable {
        public var id: String
        public var kind: String
        public var subject: String
        public var tier: String?
        public var summary: String
        public var arguments: String
        public var argumentsSha256: String
        public var status: String
        public var createdMs: Int64
        public var expiresMs: Int64
        public var decidedBy: String?
        public var decidedVia: String?

        public init(_ approval: Approval) {
            id = approval.id
            kind = approval.kind
            subject = approval.subject
            tier = approval.tier
            summary = approval.summary
            arguments = approval.arguments
            argumentsSha256 = approval.argumentsSHA256
            status = approval.status.rawValue
            createdMs = approval.createdMs
            expiresMs = approval.expiresMs
            decidedBy = approval.decidedBy
            decidedVia = approval.decidedVia?.rawValue
        }
    }

    public struct ApprovalList: Codable, Sendable, Equatable {
        public var approvals: [ApprovalInfo]

        public init(approvals: [ApprovalInfo]) { self.approvals = approvals }
    }

    public struct DecideApprovalRequest: Codable, Sendable, Equatable {
        public var id: String
        public var approve: Bool

        public init(id: String, approve: Bool) {
            self.id = id
            self.approve = approve
        }
    }

    public struct DecideApprovalResponse: Codable, Sendable, Equatable {
        public var approval: ApprovalInfo

        public init(approval: ApprovalInfo) { self.approval = approval }
    }

    /// `Event` in the IDL: one event and the log it came from.
    public struct Event: Codable, Sendable, Equatable {
        public var id: Int64
        public var tsMs: Int64
        /// `supervisor` or `worker` (`EventSource`).
        public var source: String
        public var parentId: Int64?
        public var runId: String?
        public var conversationId: String?
        public var type: String
        /// Always a JSON object: a payload that is not one is wrapped as `{"value": …}`.
        public var payload: JSONValue

        public init(_ sourced: SourcedEvent) {
            let event = sourced.event
            id = event.id
            tsMs = event.tsMs
            source = sourced.source.rawValue
            parentId = event.parentID
            runId = event.runID
            conversationId = event.conversationID
            type = event.type
            payload = event.payload.objectValue != nil ? event.payload : .object(["value": event.payload])
        }
    }

    /// The parameters of `GetEvents`.
    public struct GetEventsRequest: Codable, Sendable, Equatable {
        public var sinceMs: Int64?
        public var types: [String]?
        public var runId: String?
        public var conversationId: String?
        public var limit: Int?
        public var after: EventCursor?

        public init(
            sinceMs: Int64? = nil, types: [String]? = nil, runId: String? = nil, conversationId: String? = nil,
            limit: Int? = nil, after: EventCursor? = nil
        ) {
            self.sinceMs = sinceMs
            self.types = types
            self.runId = runId
            self.conversationId = conversationId
            self.limit = limit
            self.after = after
        }
    }

    /// The reply of `GetEvents`: events oldest first and the cursor after them.
    public struct EventsPage: Codable, Sendable, Equatable {
        public var events: [Event]
        public var cursor: EventCursor

        public init(_ page: EventPage) {
            events = page.events.map(Event.init)
            cursor = page.cursor
        }
    }

    public struct ChatRequest: Codable, Sendable, Equatable {
        public var text: String
        public var conversation: String?

        public init(text: String, conversation: String? = nil) {
            self.text = text
            self.conversation = conversation
        }
    }

    public struct ChatResponse: Codable, Sendable, Equatable {
        public var reply: String
        public var runId: String?

        public init(reply: String, runId: String?) {
            self.reply = reply
            self.runId = runId
        }
    }
}

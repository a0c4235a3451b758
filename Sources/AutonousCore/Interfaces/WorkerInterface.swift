/// Types and IDL of `io.autonous.Worker`, spoken between the supervisor and the worker it spawned on worker.sock.
public enum WorkerInterface {
    public static let name = "io.autonous.Worker"

    /// The interface in varlink IDL.
    public static let description = """
        # Between the autonous supervisor and the worker it spawned. Only that worker may connect.
        interface io.autonous.Worker

        # Progress counters a worker reports with each heartbeat.
        \(countersType("Counters"))

        # Something the supervisor asks of the worker: kind is "chat" (a local chat message) or "shutdown".
        type Notice (
          kind: string,
          id: ?string,
          text: ?string,
          conversation: ?string
        )

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

        # The caller is not the worker this supervisor spawned.
        error NotYourWorker (pid: int)

        # The chat notice is unknown or already answered.
        error UnknownChat (id: string)

        error InternalError (message: string)
        """

    /// The IDL of `Counters` under `name` (`io.autonous.Control` shows the same fields as `WorkerProgress`).
    public static func countersType(_ name: String) -> String {
        """
        # Times are Unix milliseconds; the optional fields are absent from workers older than them.
        #   lastPollCompletedMs: the last Telegram getUpdates that completed (with updates or empty)
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
        /// Agent runs started and not yet ended.
        public var runsInFlight: Int?
        /// Reply chunks neither sent nor failed.
        public var outboxBacklog: Int?
        /// Unix milliseconds when the oldest queued or in-progress message arrived; nil when none waits.
        public var oldestUnansweredMs: Int64?

        public init(
            updatesReceived: Int = 0, messagesAnswered: Int = 0, modelFailures: Int = 0, inboxQueued: Int = 0,
            lastError: String? = nil, lastPollCompletedMs: Int64? = nil, runsInFlight: Int? = nil,
            outboxBacklog: Int? = nil, oldestUnansweredMs: Int64? = nil
        ) {
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

        public init(kind: String, id: String? = nil, text: String? = nil, conversation: String? = nil) {
            self.kind = kind
            self.id = id
            self.text = text
            self.conversation = conversation
        }
    }

    public struct NoticeReply: Codable, Sendable, Equatable {
        public var notice: Notice

        public init(notice: Notice) {
            self.notice = notice
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

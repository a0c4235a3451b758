import Foundation

/// Everything autonous reads from its environment, validated once at start.
///
/// Every variable, with its default (the README lists the same):
/// - `AUTONOUS_STATE_DIR` (`/var/lib/autonous`): database, artifacts, workspace. Absolute.
/// - `AUTONOUS_RUNTIME_DIR` (`/run/autonous`): the control and worker sockets. Absolute.
/// - `AUTONOUS_CONFIG_DIR` (`/etc/autonous`): `AUTONOUS.md`, the system prompt. Absolute.
/// - `AUTONOUS_TELEGRAM` (`auto`): `auto` polls Telegram when a token is set, `on` requires a token, `off` never polls.
/// - `AUTONOUS_TELEGRAM_TOKEN` (secret, none): the bot token; or the credential `telegram-token`.
/// - `AUTONOUS_TELEGRAM_API_URL` (`https://api.telegram.org`).
/// - `AUTONOUS_TELEGRAM_ALLOWED_USERS` (none): numeric user ids allowed to talk to the bot; required with Telegram.
/// - `AUTONOUS_TELEGRAM_ADMINS` (none): user ids who may approve; each must also be allowed.
/// - `AUTONOUS_TELEGRAM_POLL_TIMEOUT` (`30s`): getUpdates long-poll timeout.
/// - `AUTONOUS_TELEGRAM_STREAMING` (`auto`): how an answer shows while the model writes it: `auto` streams a draft
///   (sendMessageDraft) in private chats and edits one message (at most once a second) elsewhere, `edit` always
///   edits, `off` sends the answer only when it is complete.
/// - `OPENAI_API_KEY` (secret, none): or the credential `openai-api-key`.
/// - `AUTONOUS_OPENAI_BASE_URL` (`https://api.openai.com/v1`): any chat-completions server.
/// - `AUTONOUS_MODEL` (`gpt-4o-mini`; `scripted` with the scripted provider), `AUTONOUS_MODEL_TIMEOUT` (`120s`: the
///   whole call without streaming, the longest silence with it).
/// - `AUTONOUS_CONTEXT_PROFILE` (`naive`), `AUTONOUS_CONTEXT_MESSAGES` (`20`; older name
///   `AUTONOUS_HISTORY_MESSAGES`), `AUTONOUS_CONTEXT_MESSAGE_CHARS` (`8000`), `AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS`
///   (`2000`), `AUTONOUS_CONTEXT_TOKEN_BUDGET` (`16000`): how each prompt is built from history (`ContextSettings`).
/// - `AUTONOUS_MODEL_PROVIDER` (`openai`): `openai` (any chat-completions server) or `scripted` (replays
///   `AUTONOUS_MODEL_SCRIPT`, for tests and the offline demo).
/// - `AUTONOUS_MODEL_SCRIPT` (none): the scripted provider's JSON script (see `ModelScript`); required with it.
/// - `AUTONOUS_MODEL_STREAM` (`on`): stream answers as server-sent events; `off` for servers that cannot.
/// - `AUTONOUS_MAX_CONCURRENT_RUNS` (`4`): agent runs at once across Telegram chats (1 to 64); one chat never has
///   two at once.
/// - `AUTONOUS_WORKER_BIN` (`autonous-worker` beside the supervisor): the bootstrap worker.
/// - `AUTONOUS_WORKER_READY_TIMEOUT` (`30s`), `AUTONOUS_WORKER_HEARTBEAT_INTERVAL` (`5s`),
///   `AUTONOUS_WORKER_HEARTBEAT_TIMEOUT` (`30s`), `AUTONOUS_RESTART_BACKOFF_INITIAL` (`1s`),
///   `AUTONOUS_RESTART_BACKOFF_MAX` (`60s`), `AUTONOUS_WORKER_STOP_TIMEOUT` (`10s`).
/// - `AUTONOUS_PROBATION` (`60s`): how long a new revision must stay healthy before it becomes last-good.
/// - `AUTONOUS_WORKER_STUCK_AFTER` (3 × the poll timeout + 30 s): a worker whose last Telegram poll completed longer
///   ago is stuck, even while it heartbeats.
/// - `AUTONOUS_CRASH_LOOP` (`3/60s`): that many restarts within the window make a promoted revision a crash loop,
///   reverted to the previous last-good once.
/// - `AUTONOUS_KEEP_REVISIONS` (`5`): artifacts kept besides current and last-good (1 to 100).
/// - `AUTONOUS_SANDBOX_BIN` (`autonous-sandbox` beside the supervisor): the launcher the worker runs under.
/// - `AUTONOUS_WORKER_UID` (`65534`): when the supervisor runs as root, the host uid the sandboxed worker maps to
///   (as any other user the worker maps to that user itself).
/// - `AUTONOUS_SANDBOX_LIMITS` (`strict`): `strict` refuses to start a sandbox whose memory or pids limit no cgroup
///   can enforce; `best-effort` falls back to rlimits (for hosts without a delegated cgroup).
/// - `AUTONOUS_RETRY_ATTEMPTS` (`5`), `AUTONOUS_RETRY_BASE_DELAY` (`500ms`), `AUTONOUS_RETRY_MAX_DELAY` (`30s`):
///   retries of Telegram and model calls.
/// - `AUTONOUS_MAX_TURNS` (`8`), `AUTONOUS_MAX_RUN_TIME` (`10m`), `AUTONOUS_MAX_RUN_TOKENS` (`200000`),
///   `AUTONOUS_MAX_RUN_COST` (none, US dollars): the limits of one agent run.
/// - `AUTONOUS_DAILY_TOKEN_BUDGET` (`2000000`; `unlimited` must be written out, `0` allows no model call) and
///   `AUTONOUS_DAILY_COST_BUDGET` (none, US dollars): what all conversations may spend per UTC day.
/// - `AUTONOUS_PRICE_TABLE` (none): a JSON file in the configuration directory, model to dollars per million
///   tokens; required with a cost cap, and must then price `AUTONOUS_MODEL`.
/// - `AUTONOUS_BREAKER_THRESHOLD` (`5`), `AUTONOUS_BREAKER_COOLDOWN` (`60s`): model failures of one class in a
///   row that stop model calls for the cooldown. `AUTONOUS_NO_PROGRESS_LIMIT` (`3`): iterations in a row with the
///   same tool calls and results that stop a run.
/// - `AUTONOUS_TOOLS` (every tool): the comma-separated tool allowlist offered to the model; empty offers none.
/// - `AUTONOUS_UPDATE_APPROVAL` (`telegram`): who may approve a self-update: `telegram` (admins' buttons and
///   `autonousctl`) or `shell` (`autonousctl` only).
/// - `AUTONOUS_UPDATE_APPROVAL_TTL` (`24h`): how long a staged update waits for a decision (1 minute to 30 days).
/// - `AUTONOUS_UPDATE_MAX_PATCH` (`1M`): the largest patch `propose_update` accepts, in bytes or with K or M
///   (1K to 4M: the patch travels in one varlink message of at most 8 MiB, JSON-escaped).
/// - `AUTONOUS_UPDATE_BUILD_COMMAND`, `AUTONOUS_UPDATE_TEST_COMMAND` (SwiftPM's, offline): override the commands the
///   update pipeline builds and tests with; empty means the default.
/// - `AUTONOUS_SOURCE_REPO` (none): a git checkout of autonous (`make run` sets it) that
///   `$AUTONOUS_STATE_DIR/src` is seeded from, and refreshed from at each start; its HEAD is the commit of the
///   bootstrap worker. Unset, the supervisor uses `share/autonous/source` of its installation prefix when it is
///   there (`make install`, the .deb). Without any and without `src`, `propose_update` says the source is missing.
/// - `AUTONOUS_UPDATE_TIMEOUT` (`45m`): the wall-clock limit of each build and each test run of the pipeline.
/// - `AUTONOUS_ADMIN_GROUP` (`autonous`): members may use the control socket besides root.
/// - `AUTONOUS_LOG` (`auto`): `journal`, `stderr`, or `auto` (journal when started by systemd with `$JOURNAL_STREAM`).
/// - `AUTONOUS_LOG_LEVEL` (`info`).
public struct Configuration: Sendable {
    /// How the Telegram commander is switched on.
    public enum TelegramMode: String, Sendable, CaseIterable {
        case auto, on, off
    }

    /// Which model provider answers (`AUTONOUS_MODEL_PROVIDER`).
    public enum ModelProviderKind: String, Sendable, CaseIterable {
        case openai, scripted
    }

    /// A switch written `on` or `off`.
    public enum Switch: String, Sendable, CaseIterable {
        case on, off
    }

    /// Whether sandbox limits a host cannot enforce stop the launch.
    public enum SandboxLimits: String, Sendable, CaseIterable {
        case strict
        case bestEffort = "best-effort"
    }

    /// Who may decide on a self-update (`AUTONOUS_UPDATE_APPROVAL`).
    public enum UpdateApprovalMode: String, Sendable, CaseIterable {
        /// Admins' Telegram buttons and `autonousctl`.
        case telegram
        /// `autonousctl` only.
        case shell
    }

    /// How an answer shows in Telegram while the model writes it (`AUTONOUS_TELEGRAM_STREAMING`).
    public enum TelegramStreaming: String, Sendable, CaseIterable {
        /// A draft in private chats, a message edited at most once a second elsewhere.
        case auto
        /// A message edited at most once a second, in every chat.
        case edit
        /// The answer is sent once it is complete.
        case off
    }

    /// Where log lines go.
    public enum LogTarget: String, Sendable, CaseIterable {
        case auto, journal, stderr
    }

    /// The log levels operators may choose.
    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public var stateDirectory: String
    public var runtimeDirectory: String
    public var configDirectory: String

    public var telegramEnabled: Bool
    /// Secret: never log or record it.
    public var telegramToken: Secret?
    public var telegramAPIURL: URL
    public var telegramAllowedUsers: [Int64]
    public var telegramAdmins: [Int64]
    public var telegramPollTimeout: Duration
    public var telegramStreaming: TelegramStreaming

    /// Secret: never log or record it.
    public var openAIKey: Secret?
    public var openAIBaseURL: URL
    /// True when the base URL was set explicitly, so a local server without a key counts as configured.
    public var openAIBaseURLIsExplicit: Bool
    public var model: String
    public var modelTimeout: Duration
    /// `AUTONOUS_MODEL_PROVIDER`.
    public var modelProvider: ModelProviderKind
    /// Whether the OpenAI provider streams its answers (`AUTONOUS_MODEL_STREAM`).
    public var modelStream: Bool
    /// The scripted provider's script and where it was read from (`AUTONOUS_MODEL_SCRIPT`); nil unless scripted.
    public var modelScriptPath: String?
    public var modelScript: ModelScript?
    /// How each prompt is built from the conversation's history (`AUTONOUS_CONTEXT_*`).
    public var context: ContextSettings
    /// Agent runs the Telegram commander keeps in flight at most, each in a different chat
    /// (`AUTONOUS_MAX_CONCURRENT_RUNS`).
    public var maxConcurrentRuns: Int

    public var workerBinary: String?
    public var sandboxBinary: String?
    public var workerUID: UInt32
    public var sandboxLimitsBestEffort: Bool
    public var workerReadyTimeout: Duration
    public var workerHeartbeatInterval: Duration
    public var workerHeartbeatTimeout: Duration
    public var workerStopTimeout: Duration
    public var restartBackoffInitial: Duration
    public var restartBackoffMax: Duration
    /// How long a new revision must stay healthy before it is promoted (`AUTONOUS_PROBATION`).
    public var probation: Duration
    /// A worker whose last Telegram poll completed longer ago is stuck (`AUTONOUS_WORKER_STUCK_AFTER`).
    public var workerStuckAfter: Duration
    /// Restarts within `crashLoopWindow` that make a crash loop (`AUTONOUS_CRASH_LOOP`, `COUNT/DURATION`).
    public var crashLoopRestarts: Int
    public var crashLoopWindow: Duration
    /// Artifacts kept besides current and last-good (`AUTONOUS_KEEP_REVISIONS`).
    public var keepRevisions: Int

    public var retryAttempts: Int
    public var retryBaseDelay: Duration
    public var retryMaxDelay: Duration

    /// The limits of one agent run (`AUTONOUS_MAX_TURNS`, `AUTONOUS_MAX_RUN_TIME`, `AUTONOUS_MAX_RUN_TOKENS`,
    /// `AUTONOUS_MAX_RUN_COST`).
    public var runLimits: RunLimits
    /// What all conversations may spend per UTC day (`AUTONOUS_DAILY_TOKEN_BUDGET`, `AUTONOUS_DAILY_COST_BUDGET`).
    public var dailyBudget: DailyBudget
    /// What each model costs (`AUTONOUS_PRICE_TABLE`); nil when no table is configured.
    public var priceTable: PriceTable?
    /// The circuit breaker and the no-progress limit (`AUTONOUS_BREAKER_*`, `AUTONOUS_NO_PROGRESS_LIMIT`).
    public var safeguards: AgentSafeguards

    /// The tool allowlist (names from ARCHITECTURE.md); empty means no tools at all.
    public var tools: [String]
    /// Every tool name autonous knows.
    public static let toolNames = ["ls", "find", "grep", "read", "write", "edit", "bash", "propose_update"]
    /// Directories the tools may use besides the workspace (`AUTONOUS_TOOL_ROOTS`).
    public var toolRoots: [ToolRoot]
    /// Per tier: auto, ask or deny (`AUTONOUS_TIER_POLICY`).
    public var toolPolicy: ToolPolicy
    /// How long an `ask` waits for an admin before the call is denied (`AUTONOUS_APPROVAL_TIMEOUT`).
    public var approvalTimeout: Duration
    /// A command tool's time limit when the model names none, and the most it may ask for
    /// (`AUTONOUS_TOOL_TIMEOUT`, `AUTONOUS_TOOL_TIMEOUT_MAX`).
    public var toolTimeout: Duration
    public var toolTimeoutMax: Duration
    /// Bytes of each output stream a tool result carries at most (`AUTONOUS_TOOL_OUTPUT_LIMIT`).
    public var toolOutputLimit: Int

    /// Who may decide on a self-update (`AUTONOUS_UPDATE_APPROVAL`).
    public var updateApproval: UpdateApprovalMode
    /// How long a staged update waits for a decision (`AUTONOUS_UPDATE_APPROVAL_TTL`).
    public var updateApprovalTTL: Duration
    /// The largest patch `propose_update` accepts, in bytes (`AUTONOUS_UPDATE_MAX_PATCH`).
    public var updateMaxPatch: Int
    /// The update pipeline's build and test commands; nil means the default (`AUTONOUS_UPDATE_BUILD_COMMAND`,
    /// `AUTONOUS_UPDATE_TEST_COMMAND`).
    public var updateBuildCommand: String?
    public var updateTestCommand: String?
    /// The checkout `src/` is seeded from (`AUTONOUS_SOURCE_REPO`).
    public var sourceSeed: String?
    /// The wall-clock limit of each build and test run (`AUTONOUS_UPDATE_TIMEOUT`).
    public var updateTimeout: Duration

    public var adminGroup: String
    public var logTarget: LogTarget
    public var logLevel: LogLevel

    /// True when the model can be called: the scripted provider, an API key, or an explicitly configured base URL
    /// (local servers).
    public var modelConfigured: Bool { modelProvider == .scripted || openAIKey != nil || openAIBaseURLIsExplicit }

    /// The supervisor's database.
    public var databasePath: String { stateDirectory + "/autonous.db" }
    /// The worker's corner of the state directory: the only part of it, besides the workspace, that the worker's
    /// sandbox can see (read-write).
    public var workerDirectory: String { stateDirectory + "/worker" }
    /// The worker's database.
    public var workerDatabasePath: String { workerDirectory + "/worker.db" }
    public var workspaceDirectory: String { stateDirectory + "/workspace" }
    /// Content-addressed worker revisions and the current, last-good and previous-good symlinks.
    public var artifactsDirectory: String { stateDirectory + "/artifacts" }
    /// The supervisor's git repository of autonous itself (bare), which self-updates are committed to.
    public var sourceDirectory: String { stateDirectory + "/src" }
    /// One directory per self-update transaction: its patch, source tree, build and test logs.
    public var buildsDirectory: String { stateDirectory + "/builds" }
    /// The build cache the pipeline's builds share (SwiftPM's scratch directory), so each build is incremental.
    public var buildCacheDirectory: String { stateDirectory + "/build-cache" }
    public var controlSocketPath: String { runtimeDirectory + "/control.sock" }
    public var workerSocketPath: String { runtimeDirectory + "/worker.sock" }
    public var systemPromptPath: String { configDirectory + "/AUTONOUS.md" }

    /// Reads and validates the configuration.
    ///
    /// - Parameter environment: usually `ProcessInfo.processInfo.environment`.
    /// - Throws: `ConfigurationError` naming the first variable that is wrong.
    public init(environment: [String: String]) throws {
        let env = EnvironmentReader(environment)
        stateDirectory = try env.absolutePath("AUTONOUS_STATE_DIR", default: "/var/lib/autonous")
        runtimeDirectory = try env.absolutePath("AUTONOUS_RUNTIME_DIR", default: "/run/autonous")
        configDirectory = try env.absolutePath("AUTONOUS_CONFIG_DIR", default: "/etc/autonous")
        // sockaddr_un.sun_path holds 108 bytes including the NUL.
        if (runtimeDirectory + "/control.sock").utf8.count > 107 {
            throw ConfigurationError(
                variable: "AUTONOUS_RUNTIME_DIR", message: "is too long for a unix socket path (at most 94 bytes)")
        }

        let credentials = env.string("CREDENTIALS_DIRECTORY")
        let mode = try env.choice("AUTONOUS_TELEGRAM", default: TelegramMode.auto)
        telegramToken = try Self.secret(
            env, variable: "AUTONOUS_TELEGRAM_TOKEN", credential: "telegram-token",
            credentialsDirectory: credentials)
        telegramAPIURL = try env.url("AUTONOUS_TELEGRAM_API_URL", default: "https://api.telegram.org")
        telegramAllowedUsers = try env.userIDs("AUTONOUS_TELEGRAM_ALLOWED_USERS")
        telegramAdmins = try env.userIDs("AUTONOUS_TELEGRAM_ADMINS")
        telegramPollTimeout = try env.duration(
            "AUTONOUS_TELEGRAM_POLL_TIMEOUT", default: .seconds(30), range: .zero ... .seconds(50))
        telegramStreaming = try env.choice("AUTONOUS_TELEGRAM_STREAMING", default: TelegramStreaming.auto)
        switch mode {
        case .off: telegramEnabled = false
        case .auto: telegramEnabled = telegramToken != nil
        case .on:
            guard telegramToken != nil else {
                throw ConfigurationError(
                    variable: "AUTONOUS_TELEGRAM_TOKEN",
                    message: "is required because AUTONOUS_TELEGRAM=on; set the bot token from @BotFather "
                        + "or the systemd credential 'telegram-token'")
            }
            telegramEnabled = true
        }
        if let token = telegramToken, !Self.isPlausibleBotToken(token.value) {
            throw ConfigurationError(
                variable: "AUTONOUS_TELEGRAM_TOKEN",
                message: "does not look like a bot token (expected '<digits>:<letters, digits, - or _>')")
        }
        if telegramEnabled && telegramAllowedUsers.isEmpty {
            throw ConfigurationError(
                variable: "AUTONOUS_TELEGRAM_ALLOWED_USERS",
                message: "is empty, so nobody could use the bot; list the numeric Telegram user ids allowed to "
                    + "talk to it (autonous refuses to run an open bot)")
        }
        let allowed = telegramAllowedUsers
        if let stranger = telegramAdmins.first(where: { !allowed.contains($0) }) {
            throw ConfigurationError(
                variable: "AUTONOUS_TELEGRAM_ADMINS",
                message: "names \(stranger), who is not in AUTONOUS_TELEGRAM_ALLOWED_USERS")
        }

        openAIKey = try Self.secret(
            env, variable: "OPENAI_API_KEY", credential: "openai-api-key",
            credentialsDirectory: credentials)
        openAIBaseURLIsExplicit = env.string("AUTONOUS_OPENAI_BASE_URL") != nil
        openAIBaseURL = try env.url("AUTONOUS_OPENAI_BASE_URL", default: "https://api.openai.com/v1")
        modelProvider = try env.choice("AUTONOUS_MODEL_PROVIDER", default: ModelProviderKind.openai)
        modelStream = try env.choice("AUTONOUS_MODEL_STREAM", default: Switch.on) == .on
        modelScriptPath = try env.optionalAbsolutePath("AUTONOUS_MODEL_SCRIPT")
        switch (modelProvider, modelScriptPath) {
        case (.scripted, let path?): modelScript = try ModelScript(path: path)
        case (.scripted, nil):
            throw ConfigurationError(
                variable: "AUTONOUS_MODEL_SCRIPT",
                message: "is required because AUTONOUS_MODEL_PROVIDER=scripted; set the path of a JSON script of "
                    + "model answers (the README's \"Scripted model\" says how to write one)")
        case (.openai, _?):
            throw ConfigurationError(
                variable: "AUTONOUS_MODEL_SCRIPT",
                message: "is set but AUTONOUS_MODEL_PROVIDER is openai; set AUTONOUS_MODEL_PROVIDER=scripted to "
                    + "replay the script, or unset AUTONOUS_MODEL_SCRIPT")
        case (.openai, nil): modelScript = nil
        }
        let modelName = env.string("AUTONOUS_MODEL") ?? (modelProvider == .scripted ? "scripted" : "gpt-4o-mini")
        model = modelName
        guard modelName.utf8.count <= 200, !modelName.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw ConfigurationError(variable: "AUTONOUS_MODEL", message: "must be a model name without spaces")
        }
        modelTimeout = try env.duration(
            "AUTONOUS_MODEL_TIMEOUT", default: .seconds(120), range: .seconds(1) ... .seconds(3600))
        context = try ContextSettings(env)
        maxConcurrentRuns = try env.integer("AUTONOUS_MAX_CONCURRENT_RUNS", default: 4, range: 1 ... 64)

        workerBinary = try env.optionalAbsolutePath("AUTONOUS_WORKER_BIN")
        sandboxBinary = try env.optionalAbsolutePath("AUTONOUS_SANDBOX_BIN")
        workerUID = UInt32(try env.integer("AUTONOUS_WORKER_UID", default: 65534, range: 1 ... 4_294_967_294))
        sandboxLimitsBestEffort =
            try env.choice("AUTONOUS_SANDBOX_LIMITS", default: SandboxLimits.strict) == .bestEffort
        workerReadyTimeout = try env.duration(
            "AUTONOUS_WORKER_READY_TIMEOUT", default: .seconds(30), range: .milliseconds(100) ... .seconds(600))
        workerHeartbeatInterval = try env.duration(
            "AUTONOUS_WORKER_HEARTBEAT_INTERVAL", default: .seconds(5), range: .milliseconds(50) ... .seconds(300))
        workerHeartbeatTimeout = try env.duration(
            "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT", default: .seconds(30), range: .milliseconds(100) ... .seconds(3600))
        guard workerHeartbeatTimeout > workerHeartbeatInterval else {
            throw ConfigurationError(
                variable: "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT",
                message: "must be longer than AUTONOUS_WORKER_HEARTBEAT_INTERVAL (\(workerHeartbeatInterval))")
        }
        workerStopTimeout = try env.duration(
            "AUTONOUS_WORKER_STOP_TIMEOUT", default: .seconds(10), range: .milliseconds(100) ... .seconds(300))
        restartBackoffInitial = try env.duration(
            "AUTONOUS_RESTART_BACKOFF_INITIAL", default: .seconds(1), range: .milliseconds(10) ... .seconds(600))
        restartBackoffMax = try env.duration(
            "AUTONOUS_RESTART_BACKOFF_MAX", default: .seconds(60), range: .milliseconds(10) ... .seconds(3600))
        guard restartBackoffMax >= restartBackoffInitial else {
            throw ConfigurationError(
                variable: "AUTONOUS_RESTART_BACKOFF_MAX",
                message: "must not be shorter than AUTONOUS_RESTART_BACKOFF_INITIAL")
        }

        probation = try env.duration(
            "AUTONOUS_PROBATION", default: .seconds(60), range: .milliseconds(100) ... .seconds(86400))
        workerStuckAfter = try env.duration(
            "AUTONOUS_WORKER_STUCK_AFTER", default: telegramPollTimeout * 3 + .seconds(30),
            range: .seconds(1) ... .seconds(86400))
        guard workerStuckAfter > telegramPollTimeout else {
            throw ConfigurationError(
                variable: "AUTONOUS_WORKER_STUCK_AFTER",
                message: "must be longer than AUTONOUS_TELEGRAM_POLL_TIMEOUT (\(telegramPollTimeout)), or every "
                    + "long poll would count as stuck")
        }
        (crashLoopRestarts, crashLoopWindow) = try Self.crashLoop(env.string("AUTONOUS_CRASH_LOOP") ?? "3/60s")
        keepRevisions = try env.integer("AUTONOUS_KEEP_REVISIONS", default: 5, range: 1 ... 100)

        retryAttempts = try env.integer("AUTONOUS_RETRY_ATTEMPTS", default: 5, range: 1 ... 100)
        retryBaseDelay = try env.duration(
            "AUTONOUS_RETRY_BASE_DELAY", default: .milliseconds(500), range: .milliseconds(1) ... .seconds(600))
        retryMaxDelay = try env.duration(
            "AUTONOUS_RETRY_MAX_DELAY", default: .seconds(30), range: .milliseconds(1) ... .seconds(3600))
        runLimits = try Self.runLimits(env)
        dailyBudget = try Self.dailyBudget(env)
        let costCap =
            runLimits.maxRunCost != nil
            ? "AUTONOUS_MAX_RUN_COST"
            : dailyBudget.cost != nil ? "AUTONOUS_DAILY_COST_BUDGET" : nil
        priceTable = try Self.priceTable(env, configDirectory: configDirectory, model: modelName, costCap: costCap)
        safeguards = try Self.safeguards(env)

        if let list = environment["AUTONOUS_TOOLS"] {
            let names = list.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
            if let unknown = names.first(where: { !Self.toolNames.contains($0) }) {
                throw ConfigurationError(
                    variable: "AUTONOUS_TOOLS",
                    message: "names an unknown tool '\(unknown)' (known: \(Self.toolNames.joined(separator: ", ")))")
            }
            tools = names
        } else {
            tools = Self.toolNames
        }
        toolRoots = try ToolRoot.parse(
            env.string("AUTONOUS_TOOL_ROOTS") ?? "", reserved: [stateDirectory, runtimeDirectory, configDirectory])
        toolPolicy = try env.string("AUTONOUS_TIER_POLICY").map(ToolPolicy.parse) ?? .defaults
        approvalTimeout = try env.duration(
            "AUTONOUS_APPROVAL_TIMEOUT", default: .seconds(300), range: .seconds(1) ... .seconds(86400))
        toolTimeout = try env.duration(
            "AUTONOUS_TOOL_TIMEOUT", default: .seconds(60), range: .seconds(1) ... .seconds(3600))
        toolTimeoutMax = try env.duration(
            "AUTONOUS_TOOL_TIMEOUT_MAX", default: .seconds(600), range: .seconds(1) ... .seconds(86400))
        guard toolTimeoutMax >= toolTimeout else {
            throw ConfigurationError(
                variable: "AUTONOUS_TOOL_TIMEOUT_MAX", message: "must not be shorter than AUTONOUS_TOOL_TIMEOUT")
        }
        toolOutputLimit = try env.integer(
            "AUTONOUS_TOOL_OUTPUT_LIMIT", default: 32 * 1024, range: 1024 ... 4 * 1024 * 1024)
        updateApproval = try env.choice("AUTONOUS_UPDATE_APPROVAL", default: UpdateApprovalMode.telegram)
        updateApprovalTTL = try env.duration(
            "AUTONOUS_UPDATE_APPROVAL_TTL", default: .seconds(86400), range: .seconds(60) ... .seconds(30 * 86400))
        updateMaxPatch = try Self.patchSize(env.string("AUTONOUS_UPDATE_MAX_PATCH") ?? "1M")
        updateBuildCommand = env.string("AUTONOUS_UPDATE_BUILD_COMMAND")
        updateTestCommand = env.string("AUTONOUS_UPDATE_TEST_COMMAND")
        sourceSeed = try env.optionalAbsolutePath("AUTONOUS_SOURCE_REPO")
        updateTimeout = try env.duration(
            "AUTONOUS_UPDATE_TIMEOUT", default: .seconds(45 * 60), range: .seconds(10) ... .seconds(6 * 3600))
        adminGroup = env.string("AUTONOUS_ADMIN_GROUP") ?? "autonous"
        logTarget = try env.choice("AUTONOUS_LOG", default: LogTarget.auto)
        logLevel = try env.choice("AUTONOUS_LOG_LEVEL", default: LogLevel.info)
    }

    /// Parses `AUTONOUS_UPDATE_MAX_PATCH`: bytes, or a whole number with `K` or `M` (KiB, MiB; `KB`, `KiB`
    /// and lowercase too), from 1 KiB to 64 MiB.
    static func patchSize(_ text: String) throws -> Int {
        var digits = text.uppercased()
        var scale = 1
        let suffixes = [("KIB", 1024), ("KB", 1024), ("K", 1024), ("MIB", 1 << 20), ("MB", 1 << 20), ("M", 1 << 20)]
        for (suffix, bytes) in suffixes where digits.hasSuffix(suffix) {
            digits.removeLast(suffix.count)
            scale = bytes
            break
        }
        guard let number = Int(digits.trimmingCharacters(in: .whitespaces)), number > 0,
            number <= (4 << 20) / scale, (1024 ... 4 << 20).contains(number * scale)
        else {
            throw ConfigurationError(
                variable: "AUTONOUS_UPDATE_MAX_PATCH",
                message: "must be a size from 1K to 4M, in bytes or with K or M such as 512K or 1M (got '\(text)'); a "
                    + "patch travels in one message of at most 8 MiB")
        }
        return number * scale
    }

    /// Reads a secret from the environment, else from `$CREDENTIALS_DIRECTORY/<credential>`.
    /// Parses `AUTONOUS_CRASH_LOOP`: `COUNT/DURATION`, such as `3/60s`.
    static func crashLoop(_ text: String) throws -> (Int, Duration) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)),
            (2 ... 100).contains(count),
            let window = EnvironmentReader.parseDuration(parts[1].trimmingCharacters(in: .whitespaces)),
            window >= .seconds(1), window <= .seconds(86400)
        else {
            throw ConfigurationError(
                variable: "AUTONOUS_CRASH_LOOP",
                message:
                    "must be RESTARTS/WINDOW with 2 to 100 restarts within 1s to 24h, such as 3/60s (got '\(text)')")
        }
        return (count, window)
    }

    static func secret(
        _ env: EnvironmentReader, variable: String, credential: String, credentialsDirectory: String?
    ) throws -> Secret? {
        if let value = env.string(variable) { return Secret(value) }
        guard let directory = credentialsDirectory else { return nil }
        let path = directory + "/" + credential
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)
        else {
            throw ConfigurationError(variable: variable, message: "the credential file \(path) cannot be read as UTF-8")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : Secret(trimmed)
    }

    static func isPlausibleBotToken(_ token: String) -> Bool {
        let parts = token.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCII), parts[0].allSatisfy(\.isNumber),
            parts[1].count >= 1
        else { return false }
        return parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

/// A secret value (token, API key) that never prints itself.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret text; pass it only to the HTTP layer.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

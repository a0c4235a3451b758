/// One environment variable autonous reads: its name, its default as an operator would write it, and what it means.
public struct ConfigurationVariable: Sendable, Equatable {
    /// Who sets the variable.
    public enum Kind: Sendable, Equatable {
        /// An operator's setting: in the environment file and the README's table.
        case setting
        /// A secret: never in the environment file; the systemd credential of this name is read instead.
        case secret(credential: String)
        /// An older name of another setting, still read (not listed in the environment file).
        case olderName(of: String)
        /// Set by the supervisor for the worker it starts, or by tests; never by an operator.
        case `internal`
        /// Set by the service manager (systemd).
        case systemd
    }

    /// The variable's name, such as `AUTONOUS_STATE_DIR`.
    public let name: String
    /// The default exactly as it would be written in the environment file (`30s`, `/var/lib/autonous`); empty when
    /// there is none or it is computed (the meaning then says how).
    public let defaultValue: String
    /// One line of what the variable does.
    public let meaning: String
    public let kind: Kind

    public init(_ name: String, _ defaultValue: String, _ meaning: String, kind: Kind = .setting) {
        self.name = name
        self.defaultValue = defaultValue
        self.meaning = meaning
        self.kind = kind
    }

    /// True for what an operator configures (settings and secrets).
    public var isOperatorFacing: Bool {
        switch kind {
        case .setting, .secret: true
        case .olderName, .internal, .systemd: false
        }
    }
}

/// A titled group of variables, in the order the environment file lists them.
public struct ConfigurationGroup: Sendable {
    public let title: String
    public let variables: [ConfigurationVariable]
}

/// Every environment variable autonous reads, in one declarative list: the source of `systemd/autonous.env.example`
/// (`autonous-supervisord --print-env-example`), and what the tests hold `Configuration`, the README's table and
/// that file to.
///
/// `Configuration.init(environment:)` reads exactly these names (ConfigurationCatalogTests records every name the
/// `EnvironmentReader` is asked for), and writing each default out parses to the same configuration as leaving it
/// unset. Add a variable here first, with its default and one line of meaning.
public enum ConfigurationCatalog {
    /// The operator's variables, grouped as the environment file shows them.
    public static let groups: [ConfigurationGroup] = [
        ConfigurationGroup(
            title: "Directories (systemd's StateDirectory=, RuntimeDirectory=, ConfigurationDirectory=)",
            variables: [
                .init("AUTONOUS_STATE_DIR", "/var/lib/autonous", "Databases, revisions, source, builds, workspace."),
                .init(
                    "AUTONOUS_RUNTIME_DIR", "/run/autonous",
                    "control.sock and worker.sock; at most 94 bytes (a unix socket path)."),
                .init(
                    "AUTONOUS_CONFIG_DIR", "/etc/autonous",
                    "AUTONOUS.md (the system prompt) and the price table; the worker sees it read-only."),
            ]),
        ConfigurationGroup(
            title: "Telegram",
            variables: [
                .init(
                    "AUTONOUS_TELEGRAM", "auto", "auto polls when a token is set, on requires a token, off never polls."
                ),
                .init(
                    "AUTONOUS_TELEGRAM_TOKEN", "", "The bot token from @BotFather.",
                    kind: .secret(credential: "telegram-token")),
                .init("AUTONOUS_TELEGRAM_API_URL", "https://api.telegram.org", "The Bot API server."),
                .init(
                    "AUTONOUS_TELEGRAM_ALLOWED_USERS", "",
                    "Numeric user ids allowed to talk to the bot, comma-separated; required with Telegram on."),
                .init(
                    "AUTONOUS_TELEGRAM_ADMINS", "", "User ids who may approve; each must also be in the allowed list."),
                .init("AUTONOUS_TELEGRAM_POLL_TIMEOUT", "30s", "The getUpdates long-poll timeout, 0 to 50s."),
                .init(
                    "AUTONOUS_TELEGRAM_STREAMING", "auto",
                    "How an answer shows while written: auto (draft or edits), edit, or off (sent when complete)."),
            ]),
        ConfigurationGroup(
            title: "Model",
            variables: [
                .init(
                    "OPENAI_API_KEY", "", "The API key; not needed for a local server.",
                    kind: .secret(credential: "openai-api-key")),
                .init(
                    "AUTONOUS_OPENAI_BASE_URL", "https://api.openai.com/v1",
                    "Any chat-completions server; setting it counts as configured even without a key."),
                .init("AUTONOUS_MODEL", "gpt-4o-mini", "The model name sent with each request."),
                .init(
                    "AUTONOUS_MODEL_TIMEOUT", "120s",
                    "A whole call without streaming, the longest silence with it (1s to 1h)."),
                .init(
                    "AUTONOUS_MODEL_PROVIDER", "openai",
                    "openai (any chat-completions server) or scripted (replays AUTONOUS_MODEL_SCRIPT)."),
                .init(
                    "AUTONOUS_MODEL_SCRIPT", "",
                    "The scripted provider's JSON script, an absolute path; required with it, refused without."),
                .init("AUTONOUS_MODEL_STREAM", "on", "on streams answers; off for servers that cannot."),
            ]),
        ConfigurationGroup(
            title: "Context: how each prompt is built from the conversation",
            variables: [
                .init("AUTONOUS_CONTEXT_PROFILE", "naive", "The context provider, compressor and prompt assembler."),
                .init("AUTONOUS_CONTEXT_MESSAGES", "20", "Earlier messages sent with each request, 0 to 500."),
                .init("AUTONOUS_CONTEXT_MESSAGE_CHARS", "8000", "Characters one earlier message keeps at most."),
                .init(
                    "AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS", "2000",
                    "Characters an earlier tool result keeps at most; 0 leaves it out."),
                .init(
                    "AUTONOUS_CONTEXT_TOKEN_BUDGET", "16000",
                    "Estimated tokens the whole prompt may take before the oldest history is dropped."),
            ]),
        ConfigurationGroup(
            title: "Agent runs, spend and safeguards",
            variables: [
                .init(
                    "AUTONOUS_MAX_CONCURRENT_RUNS", "4", "Chats answered at the same time, 1 to 64 (one run per chat)."),
                .init("AUTONOUS_MAX_TURNS", "8", "Model calls one answer may make."),
                .init("AUTONOUS_MAX_RUN_TIME", "10m", "How long one answer may run."),
                .init("AUTONOUS_MAX_RUN_TOKENS", "200000", "Tokens (prompt and completion) one answer may use."),
                .init("AUTONOUS_MAX_RUN_COST", "", "US dollars one answer may cost; needs AUTONOUS_PRICE_TABLE."),
                .init(
                    "AUTONOUS_MAX_COMPLETION_TOKENS", "4096",
                    "The completion limit each model call asks for (max_completion_tokens)."),
                .init(
                    "AUTONOUS_DAILY_TOKEN_BUDGET", "2000000",
                    "Tokens all chats may use per UTC day; unlimited must be written out, 0 allows no call."),
                .init(
                    "AUTONOUS_DAILY_COST_BUDGET", "",
                    "US dollars all chats may spend per UTC day; needs AUTONOUS_PRICE_TABLE."),
                .init(
                    "AUTONOUS_PRICE_TABLE", "",
                    "A JSON file in AUTONOUS_CONFIG_DIR: model to dollars per million tokens."),
                .init(
                    "AUTONOUS_BREAKER_THRESHOLD", "5",
                    "Model failures of one kind in a row that stop model calls for the cooldown."),
                .init("AUTONOUS_BREAKER_COOLDOWN", "60s", "How long model calls stay stopped."),
                .init(
                    "AUTONOUS_NO_PROGRESS_LIMIT", "3",
                    "Steps in a row with the same tool calls and results that stop a run."
                ),
                .init(
                    "AUTONOUS_RETRY_ATTEMPTS", "5", "Attempts per Telegram or model call, the first included."),
                .init("AUTONOUS_RETRY_BASE_DELAY", "500ms", "Wait before the first retry; doubles per retry."),
                .init("AUTONOUS_RETRY_MAX_DELAY", "30s", "The longest wait between retries."),
            ]),
        ConfigurationGroup(
            title: "Tools",
            variables: [
                .init(
                    "AUTONOUS_TOOLS", Configuration.toolNames.joined(separator: ","),
                    "The tool allowlist offered to the model; an empty value offers none."),
                .init(
                    "AUTONOUS_TOOL_ROOTS", "",
                    "Directories besides the workspace, PATH or PATH:ro, comma-separated (add them to ReadWritePaths=)."
                ),
                .init(
                    "AUTONOUS_TIER_POLICY", "read=auto,write=auto,exec=auto,network=ask",
                    "Per tier auto, ask (an admin approves each call) or deny."),
                .init(
                    "AUTONOUS_APPROVAL_TIMEOUT", "5m", "How long an ask waits for an admin before the call is denied."),
                .init("AUTONOUS_TOOL_TIMEOUT", "60s", "bash's time limit when the model names none."),
                .init("AUTONOUS_TOOL_TIMEOUT_MAX", "10m", "The longest timeout_seconds the model may ask for."),
                .init("AUTONOUS_TOOL_OUTPUT_LIMIT", "32768", "Bytes of stdout and of stderr a tool result carries."),
            ]),
        ConfigurationGroup(
            title: "Worker supervision and revisions",
            variables: [
                .init(
                    "AUTONOUS_WORKER_BIN", "",
                    "The bootstrap worker, an absolute path; default: autonous-worker beside the supervisor."),
                .init("AUTONOUS_WORKER_READY_TIMEOUT", "30s", "How long a started worker has to report Ready."),
                .init("AUTONOUS_WORKER_HEARTBEAT_INTERVAL", "5s", "How often the worker sends a heartbeat."),
                .init(
                    "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT", "30s", "Silence after which the worker counts as hung."),
                .init(
                    "AUTONOUS_WORKER_STOP_TIMEOUT", "10s",
                    "SIGTERM to SIGKILL when the worker stops (TimeoutStopSec= must be longer)."),
                .init(
                    "AUTONOUS_RESTART_BACKOFF_INITIAL", "1s",
                    "Wait before restarting a failed worker; doubles per failure."),
                .init("AUTONOUS_RESTART_BACKOFF_MAX", "60s", "The longest wait between restarts."),
                .init(
                    "AUTONOUS_PROBATION", "60s", "How long a new revision must stay healthy before it is last-good."),
                .init(
                    "AUTONOUS_WORKER_STUCK_AFTER", "",
                    "A worker whose last poll is older is stuck; default: 3 x the poll timeout + 30s."),
                .init(
                    "AUTONOUS_CRASH_LOOP", "3/60s",
                    "RESTARTS/WINDOW that make a promoted revision a crash loop (reverted once)."),
                .init("AUTONOUS_KEEP_REVISIONS", "5", "Artifacts kept besides current and last-good."),
            ]),
        ConfigurationGroup(
            title: "Sandbox",
            variables: [
                .init(
                    "AUTONOUS_SANDBOX_BIN", "",
                    "The launcher, an absolute path; default: autonous-sandbox beside the supervisor."),
                .init(
                    "AUTONOUS_WORKER_UID", "65534",
                    "Only with a root supervisor: the host uid the sandboxed worker runs as."),
                .init(
                    "AUTONOUS_SANDBOX_LIMITS", "strict",
                    "strict refuses limits no cgroup enforces (needs Delegate=yes); best-effort uses rlimits."),
            ]),
        ConfigurationGroup(
            title: "Self-update",
            variables: [
                .init(
                    "AUTONOUS_UPDATE_APPROVAL", "telegram",
                    "Who approves: telegram (admins' buttons and autonousctl) or shell (autonousctl only)."),
                .init("AUTONOUS_UPDATE_APPROVAL_TTL", "24h", "How long a staged update waits for a decision."),
                .init("AUTONOUS_UPDATE_MAX_PATCH", "1M", "The largest patch propose_update accepts, 1K to 4M."),
                .init(
                    "AUTONOUS_UPDATE_BUILD_COMMAND", "",
                    "The build command of the update pipeline; empty: SwiftPM, offline."),
                .init(
                    "AUTONOUS_UPDATE_TEST_COMMAND", "",
                    "The test command of the update pipeline; empty: SwiftPM, offline."),
                .init("AUTONOUS_UPDATE_TIMEOUT", "45m", "The limit of each build and each test run."),
                .init(
                    "AUTONOUS_SOURCE_REPO", "",
                    "A git checkout of autonous that $AUTONOUS_STATE_DIR/src is seeded and refreshed from; unset: "
                        + "share/autonous/source of the installation, when it is there."),
            ]),
        ConfigurationGroup(
            title: "Control socket and logging",
            variables: [
                .init(
                    "AUTONOUS_ADMIN_GROUP", "autonous",
                    "Members may use the control socket, besides root and the service user."),
                .init("AUTONOUS_LOG", "auto", "journal, stderr, or auto (the journal when systemd connected stderr)."),
                .init("AUTONOUS_LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical."),
            ]),
    ]

    /// Variables read besides the operator's: older names, what the supervisor sets for the worker, what tests set,
    /// and what systemd sets.
    public static let others: [ConfigurationVariable] = [
        .init(
            "AUTONOUS_HISTORY_MESSAGES", "", "The older name of AUTONOUS_CONTEXT_MESSAGES.",
            kind: .olderName(of: "AUTONOUS_CONTEXT_MESSAGES")),
        .init("AUTONOUS_WORKER_SOCKET", "", "The worker socket's path inside the worker's sandbox.", kind: .internal),
        .init("AUTONOUS_REVISION", "", "The revision the worker runs.", kind: .internal),
        .init("AUTONOUS_SUPERVISOR_PID", "", "The supervisor that started the worker.", kind: .internal),
        .init("AUTONOUS_JOURNAL_SOCKET", "", "The journald socket (tests point it at their own).", kind: .internal),
        .init(
            "AUTONOUS_SANDBOX_SIMULATE_MISSING", "", "Tests: a kernel feature the launcher acts as if it lacked.",
            kind: .internal),
        .init("CREDENTIALS_DIRECTORY", "", "Where LoadCredential= put the secrets.", kind: .systemd),
        .init("NOTIFY_SOCKET", "", "Where READY=1, STATUS= and WATCHDOG=1 go (Type=notify).", kind: .systemd),
        .init("WATCHDOG_USEC", "", "WatchdogSec= in microseconds; pinged at half of it.", kind: .systemd),
        .init("WATCHDOG_PID", "", "The process the watchdog is meant for.", kind: .systemd),
        .init("JOURNAL_STREAM", "", "Set when stderr is connected to the journal.", kind: .systemd),
    ]

    /// Every variable, the operator's first.
    public static var all: [ConfigurationVariable] { groups.flatMap(\.variables) + others }

    /// The variables an operator configures, in the environment file's order.
    public static var operatorVariables: [ConfigurationVariable] { groups.flatMap(\.variables) }

    /// The variable of that name, if autonous reads it.
    public static func variable(named name: String) -> ConfigurationVariable? {
        all.first { $0.name == name }
    }
}

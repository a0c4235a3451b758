import AutonousCore
import Foundation
import Synchronization

/// Where the bootstrap worker and the launcher are, and the worker's explicit environment. Which binary runs is the
/// revision's (its artifact); `binary` is only what the first start imports (`AUTONOUS_WORKER_BIN`).
final class WorkerLaunch: Sendable {
    /// Environment variables passed on to the worker besides every `AUTONOUS_*`; nothing else is inherited.
    static let passedVariables = [
        "OPENAI_API_KEY", "JOURNAL_STREAM", "LANG", "LC_ALL", "TZ",
    ]

    let binary: String
    /// The launcher the worker runs under.
    let sandboxBinary: String

    init(configuration: Configuration, supervisorExecutable: String) {
        let directory = URL(fileURLWithPath: supervisorExecutable).deletingLastPathComponent().path
        binary = configuration.workerBinary ?? directory + "/autonous-worker"
        sandboxBinary = configuration.sandboxBinary ?? directory + "/autonous-sandbox"
    }

    /// The worker's environment: the configuration it needs and the link back to the supervisor.
    func environment(from parent: [String: String], configuration: Configuration, revision: String) -> [String: String]
    {
        Self.environment(from: parent, configuration: configuration, revision: revision, sandboxBinary: sandboxBinary)
    }

    /// The worker's environment for the revision `revision` (its sha256) under the launcher `sandboxBinary`.
    static func environment(
        from parent: [String: String], configuration: Configuration, revision: String, sandboxBinary: String
    ) -> [String: String] {
        var environment: [String: String] = [:]
        for (key, value) in parent where key.hasPrefix("AUTONOUS_") || Self.passedVariables.contains(key) {
            environment[key] = value
        }
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        environment["HOME"] = configuration.workerDirectory
        environment["AUTONOUS_STATE_DIR"] = configuration.stateDirectory
        environment["AUTONOUS_RUNTIME_DIR"] = configuration.runtimeDirectory
        environment["AUTONOUS_CONFIG_DIR"] = configuration.configDirectory
        environment["AUTONOUS_WORKER_SOCKET"] = configuration.workerSocketPath
        environment["AUTONOUS_REVISION"] = revision
        environment["AUTONOUS_SANDBOX_BIN"] = sandboxBinary
        // The supervisor resolved the secrets (environment or credentials); the worker gets the values.
        if let token = configuration.telegramToken { environment["AUTONOUS_TELEGRAM_TOKEN"] = token.value }
        if let key = configuration.openAIKey { environment["OPENAI_API_KEY"] = key.value }
        environment["AUTONOUS_SUPERVISOR_PID"] = String(getpid())
        return environment
    }
}

import AutonousCore
import Foundation
import Synchronization

/// What the supervisor starts as the worker: the binary, its revision id and its explicit environment.
final class WorkerLaunch: Sendable {
    /// Environment variables passed on to the worker besides every `AUTONOUS_*`; nothing else is inherited.
    static let passedVariables = [
        "OPENAI_API_KEY", "JOURNAL_STREAM", "LANG", "LC_ALL", "TZ",
    ]

    let binary: String
    /// The launcher the worker runs under.
    let sandboxBinary: String
    private let digestCache = Mutex<(key: String, digest: String)?>(nil)

    init(configuration: Configuration, supervisorExecutable: String) {
        let directory = URL(fileURLWithPath: supervisorExecutable).deletingLastPathComponent().path
        binary = configuration.workerBinary ?? directory + "/autonous-worker"
        sandboxBinary = configuration.sandboxBinary ?? directory + "/autonous-sandbox"
    }

    /// The revision id of the bootstrap worker: `bootstrap-` and the first 12 hex digits of its SHA-256.
    /// Revisions built by the update pipeline are named by their artifact digest instead.
    func revision() throws -> String {
        var info = stat()
        guard stat(binary, &info) == 0 else {
            throw AutonousError(.notFound, "the worker binary \(binary) does not exist (AUTONOUS_WORKER_BIN)")
        }
        let key = "\(info.st_size)-\(info.st_mtim.tv_sec)-\(info.st_mtim.tv_nsec)-\(info.st_ino)"
        if let cached = digestCache.withLock({ $0 }), cached.key == key {
            return "bootstrap-" + cached.digest.prefix(12)
        }
        let digest = try SHA256.hex(fileAt: binary)
        digestCache.withLock { $0 = (key, digest) }
        return "bootstrap-" + digest.prefix(12)
    }

    /// The worker's environment: the configuration it needs and the link back to the supervisor.
    func environment(from parent: [String: String], configuration: Configuration, revision: String) -> [String: String]
    {
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

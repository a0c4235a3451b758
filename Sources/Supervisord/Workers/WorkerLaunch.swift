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
        // Under systemd the supervisor's standard error is the journal, the worker's a pipe to the supervisor: left
        // on `auto`, the worker would log plain lines the journal files as the supervisor's, without the worker's
        // fields (AUTONOUS_RUN_ID, AUTONOUS_REVISION). It writes to the journal socket itself (its sandbox binds
        // it), as the supervisor does; without the socket it falls back to standard error.
        if configuration.logTarget == .auto, LoggingSetup.resolve(.auto, environment: parent) == .journal {
            environment["AUTONOUS_LOG"] = "journal"
        }
        return environment
    }
}

/// The launcher's report pipe (`--status-fd 3`). The launcher writes its JSON result there only when the command it
/// was given ran, and nothing when it could not set the sandbox up; so an exit status of 125 with a report is the
/// revision's own exit, and without one the host's fault.
final class LauncherReport: Sendable {
    /// The read end; -1 once read and closed.
    private let readEnd: Mutex<Int32>
    /// The launcher's end, handed to it as its descriptor 3 and closed here once the spawn is done.
    let writeEnd: Int32

    init() throws {
        let ends = try ChildOutput.pipe("the launcher's report")
        // Read only after the launcher exited: what it wrote is there, and a descendant holding a copy of the write
        // end must not block the reaper.
        _ = fcntl(ends.read, F_SETFL, O_NONBLOCK)
        readEnd = Mutex(ends.read)
        writeEnd = ends.write
    }

    deinit { closeReadEnd() }

    func closeWriteEnd() { close(writeEnd) }

    /// After the launcher exited: true when it reported how the command ended, that is when the command ran.
    func commandRan() -> Bool {
        let descriptor = readEnd.withLock { descriptor in
            defer { descriptor = -1 }
            return descriptor
        }
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[0 ..< count]
        }
        struct Result: Decodable {
            let exitCode: Int32?
            let signal: Int32?
            enum CodingKeys: String, CodingKey {
                case exitCode = "exit_code"
                case signal
            }
        }
        guard let line = bytes.split(separator: UInt8(ascii: "\n")).first,
            let result = try? JSONDecoder().decode(Result.self, from: Data(line))
        else { return false }
        return result.exitCode != nil || result.signal != nil
    }

    private func closeReadEnd() {
        let descriptor = readEnd.withLock { descriptor in
            defer { descriptor = -1 }
            return descriptor
        }
        if descriptor >= 0 { close(descriptor) }
    }
}
